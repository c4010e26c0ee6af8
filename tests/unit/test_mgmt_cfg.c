/* tests/unit/test_mgmt_cfg.c. Description: zoo.cfg parsing (ZooKeeper's sample,
 * kazoo's harness files with server.N + myid), java.util.Properties syntax,
 * defaults, every error with its file:line:key, -D flags from SERVER_JVMFLAGS /
 * JVMFLAGS with quotes and their precedence, JAAS users, whitelist rules. */
#include "mgmt/cfg.c"

#include <stdio.h>

#include "tests/lib/tn_test.h"
#include "tests/lib/tn_tmpdir.h"

static struct cfg C; /* large: keep it off the stack */
static char err[CFG_ERR_MAX];

static int parse(const char *text)
{
	return cfg_parse_buffer("zoo.cfg", text, strlen(text), NULL, 0, &C, err);
}

static int parse_flags(const char *text, const char *const *flags, unsigned n)
{
	return cfg_parse_buffer("zoo.cfg", text, strlen(text), flags, n, &C, err);
}

/* Expect -EINVAL and an error that contains @want. */
static void expect_err(const char *text, const char *want)
{
	int rc = parse(text);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	if (!strstr(err, want))
		fprintf(stderr, "\n  error was '%s', wanted '%s'\n", err, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_EQUAL(C.prop_count, 0); /* freed on failure */
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_sample_cfg(void)
{
	/* ZooKeeper's conf/zoo_sample.cfg, comments included */
	const char *t = "# The number of milliseconds of each tick\n"
			"tickTime=2000\n"
			"# The number of ticks that the initial \n"
			"# synchronization phase can take\n"
			"initLimit=10\n"
			"syncLimit=5\n"
			"dataDir=/tmp/zookeeper\n"
			"# the port at which the clients will connect\n"
			"clientPort=2181\n"
			"#maxClientCnxns=60\n"
			"#autopurge.snapRetainCount=3\n"
			"#autopurge.purgeInterval=1\n"
			"## Metrics Providers\n"
			"#metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n";
	CU_ASSERT_EQUAL_FATAL(parse(t), 0);
	CU_ASSERT_EQUAL(C.tick_ms, 2000);
	CU_ASSERT_EQUAL(C.init_limit, 10);
	CU_ASSERT_EQUAL(C.sync_limit, 5);
	CU_ASSERT_STRING_EQUAL(C.data_dir, "/tmp/zookeeper");
	CU_ASSERT_STRING_EQUAL(C.data_log_dir, "/tmp/zookeeper");
	CU_ASSERT_EQUAL(C.client_port, 2181);
	CU_ASSERT_EQUAL(C.session_timeout_ms_min, 4000);
	CU_ASSERT_EQUAL(C.session_timeout_ms_max, 40000);
	CU_ASSERT_EQUAL(C.max_client_cnxns, 60);
	CU_ASSERT_EQUAL(C.server_count, 0);
	CU_ASSERT_EQUAL(C.server_id, 0);
	CU_ASSERT_EQUAL(C.prop_count, 0);
	cfg_free(&C);
}

static void test_defaults(void)
{
	CU_ASSERT_EQUAL_FATAL(parse("dataDir=/d\nclientPort=1\n"), 0);
	CU_ASSERT_EQUAL(C.tick_ms, 3000);
	CU_ASSERT_EQUAL(C.session_timeout_ms_min, 6000);
	CU_ASSERT_EQUAL(C.session_timeout_ms_max, 60000);
	CU_ASSERT_EQUAL(C.global_outstanding_limit, 1000);
	CU_ASSERT_EQUAL(C.snap_count, 100000);
	CU_ASSERT_EQUAL(C.pre_alloc_kib, 65536);
	CU_ASSERT_EQUAL(C.snap_retain_count, 3);
	CU_ASSERT_EQUAL(C.purge_interval_h, 0);
	CU_ASSERT_EQUAL(C.jute_maxbuffer, 0xfffff);
	CU_ASSERT_TRUE(C.force_sync);
	CU_ASSERT_FALSE(C.extended_types);
	CU_ASSERT_TRUE(C.standalone_enabled);
	CU_ASSERT_FALSE(C.reconfig_enabled);
	CU_ASSERT_TRUE(C.admin_enable);
	CU_ASSERT_EQUAL(C.admin_port, 8080);
	CU_ASSERT_EQUAL(C.election_alg, 3);
	CU_ASSERT_EQUAL(C.secure_client_port, -1);
	CU_ASSERT_EQUAL(C.container_check_ms, 60000);
	CU_ASSERT_EQUAL(C.container_max_per_min, 10000);
	CU_ASSERT_EQUAL(C.container_never_used_ms, 0);
	CU_ASSERT_EQUAL(C.polling, CFG_POLL_ADAPTIVE);
	CU_ASSERT_EQUAL(C.dataplane, CFG_DP_KERNEL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	CU_ASSERT_EQUAL(C.workers, cpus > 1 ? (uint32_t)cpus - 1 : 1u);
	CU_ASSERT_PTR_NULL(C.super_digest);
	cfg_free(&C);
}

static void test_properties_syntax(void)
{
	const char *t = "  ! bang comment\r\n"
			"dataDir : /var/zk \\\n"
			"    data\r\n"
			"clientPort 2182\n"
			"tickTime\t=\t1000   \n"
			"maxClientCnxns=\\\n"
			"   7\n"
			"key\\ with\\=odd=v\\u00e9\\tx\n"
			"\n\f  \n"
			"tern.polling=busy\n"
			"snapCount=5000\n"
			"snapCount=6000\n"; /* later wins, as in java */
	CU_ASSERT_EQUAL_FATAL(parse(t), 0);
	CU_ASSERT_STRING_EQUAL(C.data_dir, "/var/zk data");
	CU_ASSERT_EQUAL(C.client_port, 2182);
	CU_ASSERT_EQUAL(C.tick_ms, 1000);
	CU_ASSERT_EQUAL(C.max_client_cnxns, 7);
	CU_ASSERT_EQUAL(C.snap_count, 6000);
	CU_ASSERT_EQUAL(C.polling, CFG_POLL_BUSY);
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "zookeeper.key with=odd"), "v\xc3\xa9\tx");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "zookeeper.snapCount"), "6000");
	cfg_free(&C);
}

static void test_unknown_keys_become_properties(void)
{
	const char *t = "dataDir=/d\nclientPort=1\nfooBar=1\nauthProvider.1=x.SASL\n"
			"metricsProvider.httpPort=7000\ngroup.1=1:2:3\nweight.1=1\n"
			"admin.enableServer=false\nadmin.serverPort=9090\nextendedTypesEnabled=true\n"
			"forceSync=no\npreAllocSize=1024\nglobalOutstandingLimit=5\n";
	CU_ASSERT_EQUAL_FATAL(parse(t), 0);
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "zookeeper.fooBar"), "1");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "zookeeper.authProvider.1"), "x.SASL");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "metricsProvider.httpPort"), "7000");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "group.1"), "1:2:3");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "weight.1"), "1");
	CU_ASSERT_PTR_NULL(cfg_prop(&C, "fooBar"));
	CU_ASSERT_FALSE(C.admin_enable);
	CU_ASSERT_EQUAL(C.admin_port, 9090);
	CU_ASSERT_TRUE(C.extended_types);
	CU_ASSERT_FALSE(C.force_sync);
	CU_ASSERT_EQUAL(C.pre_alloc_kib, 1024);
	CU_ASSERT_EQUAL(C.global_outstanding_limit, 5);
	cfg_free(&C);
}

static void test_kazoo_harness_quorum(void)
{
	char dir[256], text[2048];
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "cfg"));
	write_file(dir, "myid", "2\n");
	snprintf(text, sizeof text,
		 "\ntickTime=2000\ndataDir=%s\nclientPort=20010\nmaxClientCnxns=0\n"
		 "admin.serverPort=20011\n"
		 "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
		 "4lw.commands.whitelist=*\n\ninitLimit=4\nsyncLimit=2\n"
		 "server.1=localhost:20001:20002:participant\n"
		 "server.2=localhost:20011:20012:participant\n"
		 "server.3=localhost:20021:20022:observer;127.0.0.1:20020\n"
		 "peerType=participant\n",
		 dir);
	CU_ASSERT_EQUAL_FATAL(parse(text), 0);
	CU_ASSERT_EQUAL(C.server_count, 3);
	CU_ASSERT_EQUAL(C.server_id, 2);
	CU_ASSERT_EQUAL(C.max_client_cnxns, 0);
	CU_ASSERT_TRUE(C.wl_all);
	const struct cfg_server *s = cfg_server_find(&C, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s->host, "localhost");
	CU_ASSERT_EQUAL(s->quorum_port, 20021);
	CU_ASSERT_EQUAL(s->election_port, 20022);
	CU_ASSERT_EQUAL(s->type, CFG_PEER_OBSERVER);
	CU_ASSERT_STRING_EQUAL(s->client_host, "127.0.0.1");
	CU_ASSERT_EQUAL(s->client_port, 20020);
	CU_ASSERT_EQUAL(s->line, 14);
	CU_ASSERT_EQUAL(cfg_server_find(&C, 1)->client_port, -1);
	CU_ASSERT_EQUAL(C.peer_type, CFG_PEER_PARTICIPANT);
	char line[600];
	CU_ASSERT(cfg_server_str(s, line, sizeof line) > 0);
	CU_ASSERT_STRING_EQUAL(line, "localhost:20021:20022:observer;127.0.0.1:20020");
	cfg_free(&C);
	/* server.3's client port contradicts clientPort, as ZooKeeper rejects it */
	write_file(dir, "myid", "3");
	CU_ASSERT_EQUAL(parse(text), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "zoo.cfg:14: server.3: client port 20020 differs from clientPort=20010"));
	/* myid must be one of the servers */
	write_file(dir, "myid", " 9 ");
	CU_ASSERT_EQUAL(parse(text), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "my id 9"));
	write_file(dir, "myid", "x");
	CU_ASSERT_EQUAL(parse(text), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "myid: serverid 'x' is not a number"));
	tn_tmpdir_remove(dir);
	CU_ASSERT_NOT_EQUAL(parse(text), 0); /* myid gone */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/myid: No such file"));
}

static void test_server_lines(void)
{
	char dir[256], text[1024];
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "cfg"));
	write_file(dir, "myid", "1");
	snprintf(text, sizeof text,
		 "dataDir=%s\ninitLimit=5\nsyncLimit=2\n"
		 "server.1=[::1]:2888:3888|10.0.0.1:2889:3889;[::1]:2181\n"
		 "server.2=h2:2888:3888;2181\n",
		 dir);
	CU_ASSERT_EQUAL_FATAL(parse(text), 0);
	const struct cfg_server *s = cfg_server_find(&C, 1);
	CU_ASSERT_STRING_EQUAL(s->host, "::1");
	CU_ASSERT_EQUAL(s->addr_count, 2);
	CU_ASSERT_STRING_EQUAL(s->client_host, "::1");
	CU_ASSERT_EQUAL(C.client_port, 2181); /* taken from my server line */
	CU_ASSERT_STRING_EQUAL(cfg_server_find(&C, 2)->client_host, "0.0.0.0");
	char line[600];
	cfg_server_str(s, line, sizeof line);
	CU_ASSERT_STRING_EQUAL(line, "[::1]:2888:3888:participant;[::1]:2181");
	cfg_free(&C);
	/* peerType says participant, my line says observer: the server list wins */
	snprintf(text, sizeof text,
		 "dataDir=%s\ninitLimit=5\nsyncLimit=2\npeerType=participant\n"
		 "server.1=h1:2888:3888:observer;2181\nserver.2=h2:2888:3888;2181\n", dir);
	CU_ASSERT_EQUAL_FATAL(parse(text), 0);
	CU_ASSERT_EQUAL(C.peer_type, CFG_PEER_OBSERVER);
	cfg_free(&C);
	/* a single server line with standaloneEnabled (default) runs standalone: no myid needed */
	CU_ASSERT_EQUAL(parse("dataDir=/nonexistent\nserver.1=h:1:2;2181\n"), 0);
	CU_ASSERT_EQUAL(C.client_port, 2181);
	CU_ASSERT_EQUAL(C.server_id, 0);
	cfg_free(&C);
	tn_tmpdir_remove(dir);
}

static void test_errors_name_line_and_key(void)
{
	expect_err("dataDir=/d\nclientPort=1\n\ntickTime=abc\n", "zoo.cfg:4: tickTime: 'abc' is not a number");
	expect_err("dataDir=/d\nclientPort=70000\n", "zoo.cfg:2: clientPort: 70000 is out of range");
	expect_err("clientPort=1\n", "zoo.cfg: dataDir: is not set");
	expect_err("dataDir=/d\n", "clientPort: is not set");
	expect_err("dataDir=/d\nclientPort=1\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n",
		   "zoo.cfg:3: minSessionTimeout: minSessionTimeout 9000 is larger than maxSessionTimeout 8000");
	expect_err("dataDir=/d\nclientPort=1\nmaxSessionTimeout=100\n", /* min defaults to 2 x 3000 */
		   "zoo.cfg:3: maxSessionTimeout: minSessionTimeout 6000 is larger");
	expect_err("dataDir=/d\nserver.1=h:1\n", "zoo.cfg:2: server.1: 'h:1': bad or missing quorum port");
	expect_err("dataDir=/d\nserver.1=h:1:x\n", "zoo.cfg:2: server.1: 'h:1:x': bad or missing election port");
	expect_err("dataDir=/d\nserver.1=h:1:2:boss\n", "role must be participant or observer");
	expect_err("dataDir=/d\nserver.x=h:1:2\n", "zoo.cfg:2: server.x: server id 'x' is not a number");
	expect_err("dataDir=/d\nserver.1=h:1:2;99999\n", "'99999' is not a client port");
	expect_err("dataDir=/d\nserver.1=h:1:2\nserver.01=h:3:4\n",
		   "zoo.cfg:3: server.01: duplicate server id 1 (first on line 2)");
	expect_err("dataDir=/d\nclientPort=1\nstandaloneEnabled=maybe\n",
		   "zoo.cfg:3: standaloneEnabled: 'maybe' is not true or false");
	expect_err("dataDir=/d\nclientPort=1\npeerType=boss\n", "zoo.cfg:3: peerType: unrecognised");
	expect_err("dataDir=/d\nclientPort=1\nelectionAlg=1\n", "electionAlg: 1 is not supported");
	expect_err("dataDir=/d\nclientPort=1\nkey=\\u12\n", "zoo.cfg:3: malformed \\uxxxx");
	expect_err("dataDir=/d\nclientPort=1\nforceSync=perhaps\n",
		   "zoo.cfg:3: zookeeper.forceSync: not true or false");
	expect_err("dataDir=/d\nclientPort=1\njute.maxbuffer=big\n",
		   "zoo.cfg:3: jute.maxbuffer: 'big' is not a number");
	expect_err("dataDir=/d\nclientPort=1\ntern.polling=lazy\n",
		   "zoo.cfg:3: tern.polling: must be adaptive or busy");
	expect_err("dataDir=/d\nclientPort=1\ntern.dataplane=rdma\n", "must be kernel or dpdk");
	expect_err("dataDir=/d\nclientPort=1\ntern.workers=0\n", "tern.workers: 0 is out of range");
	expect_err("dataDir=/d\nclientPort=1\ntern.log.level=loud\n", "tern.log.level: must be");
	expect_err("dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2\n", "initLimit: is not set");
	expect_err("dataDir=/d\ninitLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\n", "syncLimit: is not set");
}

static void test_dflags_and_precedence(void)
{
	const char *flags[] = { "-Xmx1g", "-Dzookeeper.snapCount=5000", "-Djute.maxbuffer=0x100000",
				"-Dreadonlymode.enabled=true", "-Dzookeeper.skipACL=yes",
				"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/Q=",
				"-Dznode.container.checkIntervalMs=1000", "-Dzookeeper.maxCnxns=9",
				"-Dzookeeper.sessionRequireClientSASLAuth=true",
				"-Dzookeeper.extendedTypesEnabled=true", "-Dempty" };
	CU_ASSERT_EQUAL_FATAL(parse_flags("dataDir=/d\nclientPort=1\n", flags, TN_ARRAY_LEN(flags)), 0);
	CU_ASSERT_EQUAL(C.snap_count, 5000);
	CU_ASSERT_EQUAL(C.jute_maxbuffer, 0x100000); /* Integer.decode: hex accepted */
	CU_ASSERT_TRUE(C.readonly_mode);
	CU_ASSERT_TRUE(C.skip_acl);
	CU_ASSERT_TRUE(C.sasl_required);
	CU_ASSERT_TRUE(C.extended_types);
	CU_ASSERT_EQUAL(C.max_cnxns, 9);
	CU_ASSERT_EQUAL(C.container_check_ms, 1000);
	CU_ASSERT_STRING_EQUAL(C.super_digest, "super:D/Q=");
	CU_ASSERT_STRING_EQUAL(cfg_prop(&C, "empty"), "");
	cfg_free(&C);
	/* zoo.cfg sets the property after the JVM started: it wins over -D */
	CU_ASSERT_EQUAL_FATAL(parse_flags("dataDir=/d\nclientPort=1\nsnapCount=7000\n", flags, 2), 0);
	CU_ASSERT_EQUAL(C.snap_count, 7000);
	cfg_free(&C);
	const char *bad[] = { "-Dzookeeper.snapCount=lots" };
	CU_ASSERT_EQUAL(parse_flags("dataDir=/d\nclientPort=1\n", bad, 1), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "-D: -Dzookeeper.snapCount: 'lots' is not a number");
}

static void test_env_jvmflags(void)
{
	char dir[256], path[300];
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "cfg"));
	write_file(dir, "zoo.cfg", "dataDir=/d\nclientPort=1\n");
	snprintf(path, sizeof path, "%s/zoo.cfg", dir);
	setenv("SERVER_JVMFLAGS", "-Dzookeeper.snapCount=100 \"-Dtern.log.level=debug\"", 1);
	setenv("JVMFLAGS",
	       "-Xms1g  -Dzookeeper.snapCount=200 '-Dzookeeper.DigestAuthenticationProvider.superDigest=s:a b'"
	       " -Dzookeeper.4lw.commands.whitelist=\"stat, ruok\"",
	       1);
	CU_ASSERT_EQUAL_FATAL(cfg_load(path, &C, err), 0);
	CU_ASSERT_EQUAL(C.snap_count, 200); /* JVMFLAGS comes after SERVER_JVMFLAGS */
	CU_ASSERT_EQUAL(C.log_level, TN_LOG_DEBUG);
	CU_ASSERT_STRING_EQUAL(C.super_digest, "s:a b");
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "ruok"));
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "stat"));
	CU_ASSERT_FALSE(cfg_4lw_allowed(&C, "srvr"));
	CU_ASSERT_EQUAL(prop_find(&C, "zookeeper.snapCount")->src, CFG_SRC_JVMFLAGS);
	cfg_free(&C);
	setenv("JVMFLAGS", "-Dzookeeper.snapCount=oops", 1);
	int rc = cfg_load(path, &C, err);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	if (rc == 0)
		cfg_free(&C);
	CU_ASSERT_STRING_EQUAL(err, "JVMFLAGS: -Dzookeeper.snapCount: 'oops' is not a number");
	setenv("JVMFLAGS", "-Dx='unterminated", 1);
	CU_ASSERT_EQUAL(cfg_load(path, &C, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "JVMFLAGS: unterminated quote");
	unsetenv("JVMFLAGS");
	unsetenv("SERVER_JVMFLAGS");
	snprintf(path, sizeof path, "%s/missing.cfg", dir);
	CU_ASSERT_EQUAL(cfg_load(path, &C, err), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.cfg: No such file"));
	tn_tmpdir_remove(dir);
}

static void test_split_words(void)
{
	char out[128];
	int n = cfg_split_words("  a 'b c'  \"d\\\"e\" f\\ g h\"i j\"k '' ", out, sizeof out);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	const char *w = out;
	const char *want[] = { "a", "b c", "d\"e", "f g", "hi jk", "" };
	for (int i = 0; i < n; i++, w += strlen(w) + 1)
		CU_ASSERT_STRING_EQUAL(w, want[i]);
	CU_ASSERT_EQUAL(cfg_split_words("\"open", out, sizeof out), -EINVAL);
	CU_ASSERT_EQUAL(cfg_split_words("abcdef", out, 4), -E2BIG);
	CU_ASSERT_EQUAL(cfg_split_words("   ", out, sizeof out), 0);
	CU_ASSERT_EQUAL(cfg_split_words("abc", out, 4), 1); /* exact fit: strlen + 1 */
	CU_ASSERT_STRING_EQUAL(out, "abc");
}

static void test_jaas(void)
{
	char dir[256], flag[400];
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "cfg"));
	write_file(dir, "jaas.conf",
		   "// kazoo's harness style\n"
		   "Server {\n"
		   "    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		   "    user_super=\"super_secret\"\n"
		   "    /* a comment\n spanning lines */\n"
		   "    user_jaasuser=\"jaas_password\"\n"
		   "    user_bare=plain;\n"
		   "};\n"
		   "Client {\n"
		   "    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		   "    username=\"jaasuser\" password=\"jaas_password\" user_notme=\"x\";\n"
		   "};\n");
	snprintf(flag, sizeof flag, "-Djava.security.auth.login.config=%s/jaas.conf", dir);
	const char *flags[] = { flag };
	CU_ASSERT_EQUAL_FATAL(parse_flags("dataDir=/d\nclientPort=1\n", flags, 1), 0);
	CU_ASSERT_EQUAL(C.user_count, 3);
	CU_ASSERT_STRING_EQUAL(cfg_user_password(&C, "super"), "super_secret");
	CU_ASSERT_STRING_EQUAL(cfg_user_password(&C, "jaasuser"), "jaas_password");
	CU_ASSERT_STRING_EQUAL(cfg_user_password(&C, "bare"), "plain");
	CU_ASSERT_PTR_NULL(cfg_user_password(&C, "notme"));
	cfg_free(&C);
	write_file(dir, "jaas.conf", "Server {\n  Mod required\n  user_a=\"x\"\n};\n"); /* no ';' */
	CU_ASSERT_EQUAL(parse_flags("dataDir=/d\nclientPort=1\n", flags, 1), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "jaas.conf:4: JAAS: expected an option name or ';'"));
	write_file(dir, "jaas.conf", "Server {\n  Mod required\n  user_a=\"x;\n};\n");
	CU_ASSERT_EQUAL(parse_flags("dataDir=/d\nclientPort=1\n", flags, 1), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "JAAS: unterminated string"));
	/* the same property from a zoo.cfg line (tern extension); missing file */
	char text[512];
	snprintf(text, sizeof text, "dataDir=/d\nclientPort=1\njava.security.auth.login.config=%s/no\n",
		 dir);
	CU_ASSERT_EQUAL(parse(text), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "zoo.cfg:3: java.security.auth.login.config: cannot read"));
	tn_tmpdir_remove(dir);
}

static void test_whitelist(void)
{
	CU_ASSERT_EQUAL_FATAL(parse("dataDir=/d\nclientPort=1\n"), 0);
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "srvr"));
	CU_ASSERT_FALSE(cfg_4lw_allowed(&C, "isro"));
	CU_ASSERT_FALSE(cfg_4lw_allowed(&C, "ruok"));
	cfg_free(&C);
	CU_ASSERT_EQUAL_FATAL(parse("dataDir=/d\nclientPort=1\nreadonlymode.enabled=true\n"), 0);
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "srvr"));
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "isro"));
	cfg_free(&C);
	CU_ASSERT_EQUAL_FATAL(
		parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist= stat , ruok,,toolong, mntr\n"), 0);
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "stat"));
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "ruok"));
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "mntr"));
	CU_ASSERT_FALSE(cfg_4lw_allowed(&C, "srvr")); /* an explicit list replaces the default */
	CU_ASSERT_EQUAL(C.wl_count, 3);
	cfg_free(&C);
	CU_ASSERT_EQUAL_FATAL(parse("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=srvr, *\n"), 0);
	CU_ASSERT_TRUE(cfg_4lw_allowed(&C, "dump"));
	cfg_free(&C);
}

static void test_misc_keys_and_dump(void)
{
	const char *t = "dataDir=/d\ndataLogDir=/l\nclientPort=1\nclientPortAddress=127.0.0.1\n"
			"secureClientPort=2281\nautopurge.snapRetainCount=1\nautopurge.purgeInterval=24\n"
			"minSessionTimeout=-1\nmaxSessionTimeout=90000\nreconfigEnabled=true\n"
			"standaloneEnabled=false\nclientPortListenBacklog=50\ntern.workers=3\n"
			"tern.dataplane=dpdk\nznode.container.maxPerMinute=5\n"
			"zookeeper.DigestAuthenticationProvider.superDigest=super:xyz\n";
	CU_ASSERT_EQUAL_FATAL(parse(t), 0);
	CU_ASSERT_STRING_EQUAL(C.data_log_dir, "/l");
	CU_ASSERT_STRING_EQUAL(C.client_port_address, "127.0.0.1");
	CU_ASSERT_EQUAL(C.secure_client_port, 2281);
	CU_ASSERT_EQUAL(C.snap_retain_count, 3); /* raised to the minimum, as ZooKeeper does */
	CU_ASSERT_EQUAL(C.purge_interval_h, 24);
	CU_ASSERT_EQUAL(C.session_timeout_ms_min, 6000);
	CU_ASSERT_EQUAL(C.session_timeout_ms_max, 90000);
	CU_ASSERT_TRUE(C.reconfig_enabled);
	CU_ASSERT_FALSE(C.standalone_enabled);
	CU_ASSERT_EQUAL(C.client_port_listen_backlog, 50);
	CU_ASSERT_EQUAL(C.workers, 3);
	CU_ASSERT_EQUAL(C.dataplane, CFG_DP_DPDK);
	CU_ASSERT_EQUAL(C.container_max_per_min, 5);
	CU_ASSERT_STRING_EQUAL(C.super_digest, "super:xyz");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	cfg_dump(&C, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ndataLogDir=/l\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nmaxSessionTimeout=90000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ntern.workers=3\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "xyz")); /* the super digest is not printed */
	free(text);
	cfg_free(&C);
}

static void test_limits(void)
{
	/* more properties than the table holds is -E2BIG, not a crash */
	size_t cap = (CFG_PROPS_MAX + 10) * 24;
	char *t = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	size_t n = (size_t)snprintf(t, cap, "dataDir=/d\nclientPort=1\n");
	for (unsigned i = 0; i < CFG_PROPS_MAX + 5; i++)
		n += (size_t)snprintf(t + n, cap - n, "k%u=v\n", i);
	CU_ASSERT_EQUAL(parse(t), -E2BIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 1024 properties"));
	free(t);
	CU_ASSERT_EQUAL(parse("dataDir=/d\nclientPort=1\nsnapCount\n"), -EINVAL); /* empty value */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "zoo.cfg:3: zookeeper.snapCount: '' is not a number"));
}

/* cfg_dump's text parses back to the same effective configuration. */
static void test_dump_round_trip(void)
{
	static struct cfg c2;
	const char *t = "dataDir=/d\nclientPort=2181\ntickTime=1500\nmaxSessionTimeout=99000\n"
			"snapCount=777\nforceSync=no\nreadonlymode.enabled=true\ntern.polling=busy\n"
			"4lw.commands.whitelist=ruok, stat\njute.maxbuffer=4096\npreAllocSize=32\n";
	CU_ASSERT_EQUAL_FATAL(parse(t), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	cfg_dump(&C, f);
	fclose(f);
	int rc = cfg_parse_buffer("dump", text, len, NULL, 0, &c2, err);
	if (rc)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(c2.tick_ms, C.tick_ms);
	CU_ASSERT_EQUAL(c2.session_timeout_ms_min, C.session_timeout_ms_min);
	CU_ASSERT_EQUAL(c2.session_timeout_ms_max, 99000);
	CU_ASSERT_EQUAL(c2.client_port, 2181);
	CU_ASSERT_EQUAL(c2.snap_count, 777);
	CU_ASSERT_EQUAL(c2.jute_maxbuffer, 4096);
	CU_ASSERT_EQUAL(c2.pre_alloc_kib, 32);
	CU_ASSERT_FALSE(c2.force_sync);
	CU_ASSERT_TRUE(c2.readonly_mode);
	CU_ASSERT_EQUAL(c2.polling, CFG_POLL_BUSY);
	CU_ASSERT_EQUAL(c2.workers, C.workers);
	const char *w4[] = { "ruok", "stat", "isro", "srvr", "mntr" };
	for (unsigned i = 0; i < TN_ARRAY_LEN(w4); i++)
		CU_ASSERT_EQUAL(cfg_4lw_allowed(&c2, w4[i]), cfg_4lw_allowed(&C, w4[i]));
	free(text);
	cfg_free(&c2);
	cfg_free(&C);
}

static CU_TestInfo tests[] = {
	{ "dump_round_trip", test_dump_round_trip },
	{ "sample_cfg", test_sample_cfg },
	{ "defaults", test_defaults },
	{ "properties_syntax", test_properties_syntax },
	{ "unknown_keys_become_properties", test_unknown_keys_become_properties },
	{ "kazoo_harness_quorum", test_kazoo_harness_quorum },
	{ "server_lines", test_server_lines },
	{ "errors_name_line_and_key", test_errors_name_line_and_key },
	{ "dflags_and_precedence", test_dflags_and_precedence },
	{ "env_jvmflags", test_env_jvmflags },
	{ "split_words", test_split_words },
	{ "jaas", test_jaas },
	{ "whitelist", test_whitelist },
	{ "misc_keys_and_dump", test_misc_keys_and_dump },
	{ "limits", test_limits },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "mgmt_cfg", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	tn_log_set_level(TN_LOG_ERROR); /* the warnings tested elsewhere would clutter the run */
	return tn_test_main(argc, argv, suites);
}
