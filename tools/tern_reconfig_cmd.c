/* tools/tern_reconfig_cmd.c: `tern reconfig`, zkCli's reconfig command.
 *
 *   tern reconfig [-s] [-v VERSION] -members SPEC[,SPEC...]
 *   tern reconfig [-s] [-v VERSION] [-add SPEC[,SPEC...]] [-remove ID[,ID...]]
 *
 * SPEC is "server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]",
 * VERSION the config version (hex, as /zookeeper/config's version= line
 * shows it) the change applies to. Needs a superuser session (--auth
 * digest:super:PASSWORD) unless the servers skip ACLs. Prints the new
 * config (zkCli: "Committed new configuration:"), -s its Stat too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tern_cli.h"

static int cmd_reconfig(int argc, char **argv, struct tern_cli *ctx)
{
	const char *add = NULL, *remove = NULL, *members = NULL;
	int64_t version = -1;
	bool show_stat = false;
	struct ternc *zk;
	struct ternc_result *r = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "-s")) {
			show_stat = true;
			continue;
		}
		if (!v)
			return tern_cli_usage(ctx, "an option without its value");
		if (!strcmp(argv[i], "-add")) {
			add = v;
		} else if (!strcmp(argv[i], "-remove")) {
			remove = v;
		} else if (!strcmp(argv[i], "-members")) {
			members = v;
		} else if (!strcmp(argv[i], "-v")) {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(v, &end, 16);
			if (errno || end == v || *end || x > INT64_MAX)
				return tern_cli_usage(ctx, "-v wants a hex config version");
			version = (int64_t)x;
		} else {
			return tern_cli_usage(ctx, "unknown option");
		}
		i++;
	}
	if (!add && !remove && !members)
		return tern_cli_usage(ctx, "nothing to change");
	if (members && (add || remove))
		return tern_cli_usage(ctx, "-members excludes -add and -remove");
	if ((rc = tern_cli_session(ctx, &zk)) != TERN_EXIT_OK)
		return rc;
	rc = ternc_reconfig_sync(zk, add, remove, members, version, &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return tern_cli_zkerr(ctx, "reconfig", NULL, rc);
	}
	size_t len = r->data_len > 0 ? (size_t)r->data_len : 0;
	if (ctx->json) {
		fputs("{\"config\":", stdout);
		tern_json_str(stdout, (const char *)r->data, len);
		fputs(",\"stat\":", stdout);
		tern_json_stat(stdout, &r->stat);
		fputs("}\n", stdout);
	} else {
		printf("Committed new configuration:\n");
		if (len)
			fwrite(r->data, 1, len, stdout);
		putchar('\n');
		if (show_stat)
			printf("mzxid = 0x%" PRIx64 "\nversion = %d\n", (uint64_t)r->stat.mzxid,
			       r->stat.version);
	}
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd reconfig_cmd = {
	"reconfig",
	"reconfig [-s] [-v VERSION] (-members SPEC,... | [-add SPEC,...] [-remove ID,...])",
	"change the ensemble's membership (superuser; reconfigEnabled=true)", cmd_reconfig};
TERN_CLI_REGISTER(reconfig_cmd)
