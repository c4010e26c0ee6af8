#!/usr/bin/env python3
"""deploy/host-setup.sh against a fake sysfs tree: hugepages are split over
NUMA nodes, a NIC is moved from its kernel driver to vfio-pci and back, bad
arguments are refused with a clear message, and --dry-run changes nothing."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, '..', '..', 'deploy', 'host-setup.sh')
PCI = '0000:3b:00.0'
passed = failed = 0


def check(name, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
        print(f'ok   {name}')
    else:
        failed += 1
        print(f'FAIL {name} {detail}')


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def fake_sysfs(root):
    for node in ('node0', 'node1'):
        write(f'{root}/devices/system/node/{node}/hugepages/hugepages-2048kB/nr_hugepages', '0')
    write(f'{root}/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages', '0')
    write(f'{root}/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', '0')
    for cpu in range(8):
        os.makedirs(f'{root}/devices/system/cpu/cpu{cpu}', exist_ok=True)
    drv = f'{root}/bus/pci/drivers'
    write(f'{drv}/ice/unbind', '')
    write(f'{drv}/vfio-pci/bind', '')
    write(f'{root}/bus/pci/drivers_probe', '')
    dev = f'{root}/bus/pci/devices/{PCI}'
    write(f'{dev}/class', '0x020000')
    write(f'{dev}/numa_node', '1')
    write(f'{dev}/driver_override', '')
    os.symlink(f'{drv}/ice', f'{dev}/driver')


def run(root, *args):
    return subprocess.run(['bash', SCRIPT, '--sysfs', root, '--mount', 'none', *args],
                          capture_output=True, text=True, timeout=30)


def main():
    with tempfile.TemporaryDirectory() as root:
        fake_sysfs(root)
        r = run(root, 'check')
        check('check lists the NIC and its driver', r.returncode == 0 and f'{PCI} ice numa 1' in r.stdout, r.stdout + r.stderr)

        r = run(root, '--dry-run', 'hugepages', '3G')
        n0 = read(f'{root}/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages')
        check('dry run prints the writes and changes nothing', r.returncode == 0 and 'write ' in r.stdout and n0 == '0',
              r.stdout + r.stderr)

        r = run(root, 'hugepages', '3G')
        n0 = read(f'{root}/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages')
        n1 = read(f'{root}/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages')
        check('3G of 2M pages split over two nodes', r.returncode == 0 and n0 == '768' and n1 == '768', f'{n0} {n1} {r.stderr}')

        r = run(root, 'hugepages', 'lots')
        check('bad size refused', r.returncode != 0 and 'bad size' in r.stderr, r.stderr)

        r = run(root, 'bind', PCI)
        dev = f'{root}/bus/pci/devices/{PCI}'
        check('bind: unbinds from ice, overrides to vfio-pci, probes',
              r.returncode == 0 and read(f'{root}/bus/pci/drivers/ice/unbind') == PCI and
              read(f'{dev}/driver_override') == 'vfio-pci' and read(f'{root}/bus/pci/drivers_probe') == PCI,
              r.stdout + r.stderr)

        r = run(root, 'bind', 'eth0')
        check('bad PCI address refused', r.returncode != 0 and 'bad PCI address' in r.stderr, r.stderr)
        r = run(root, 'bind', '0000:99:00.0')
        check('missing device refused', r.returncode != 0 and 'no PCI device' in r.stderr, r.stderr)

        r = run(root, 'unbind', PCI, 'ice')
        check('unbind gives the NIC back and clears the override',
              r.returncode == 0 and read(f'{dev}/driver_override') == '' and 'given back to ice' in r.stdout,
              r.stdout + r.stderr)

        r = run(root, 'cores', '4')
        check('cores: isolates 1-5 and sets tern.workers',
              r.returncode == 0 and 'isolcpus=1-5' in r.stdout and 'tern.workers=4' in r.stdout, r.stdout + r.stderr)
        r = run(root, 'cores', '7')
        check('cores: too many workers refused', r.returncode != 0 and 'need 9 cores' in r.stderr, r.stderr)
    print(f'{passed} passed, {failed} failed')
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main())
