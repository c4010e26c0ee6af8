/* tests/unit/test_mgmt_admin.c. Description: four-letter-word text. The expected
 * strings are replies captured from Apache ZooKeeper 3.8.0 (Debian) for the same
 * state (srvr, stat, cons, conf in quorum mode, wchs/wchc/wchp, dump, dirs);
 * plus mntr's tab format, envi's zookeeper.version as kazoo parses it, the
 * whitelist and not-serving texts, and java's double formatting. */
#include "mgmt/admin.c"
#include "mgmt/cfg.c"

#include "tests/lib/tn_test.h"
#include "tests/lib/tn_tmpdir.h"

#define SID 0x1000006f3d10000ull

static struct cfg C;
static char out[1 << 16];

static struct adm_conn conns[2];
static struct adm_watch watches[2] = { { SID, "/a/b" }, { SID, "/a" } };

/* The state of the Apache ZooKeeper run the expected text came from. */
static struct adm_info zk_info(void)
{
	memset(conns, 0, sizeof conns);
	conns[0] = (struct adm_conn){ .addr = "127.0.0.1", .port = 44616, .interest_ops = 1,
				      .recved = 9, .sent = 9, .has_session = true, .sid = SID,
				      .lop = "EXIS", .est_ms = 1795316104220ull, .to_ms = 10000,
				      .lcxid = 8, .lzxid = 4, .lresp_ms = 463283, .llat = 1,
				      .minlat = 0, .maxlat = 8, .lat_sum = 29, .lat_count = 9 };
	conns[1] = (struct adm_conn){ .addr = "127.0.0.1", .port = 44642, .recved = 1 };
	return (struct adm_info){
		.serving = true, .mode = "standalone", .version = "3.8.0-${mvngit.commit.id}",
		.built_on = "2024-12-29 17:54 UTC", .zxid = 4, .lat_min = 1, .lat_max = 8,
		.lat_sum = 29, .lat_count = 9, .packets_received = 11, .packets_sent = 10,
		.node_count = 8, .conns = conns, .conn_count = 2, .watches = watches,
		.watch_count = 2, .datadir_bytes = 67109337, .logdir_bytes = 67109337,
	};
}

static const char *run(const char *w, const struct adm_info *in)
{
	int rc = adm_4lw_buf(w, in, out, sizeof out);
	CU_ASSERT(rc >= 0);
	if (rc < 0)
		out[0] = '\0';
	else
		CU_ASSERT_EQUAL((size_t)rc, strlen(out));
	return out;
}

static void test_srvr_stat_cons_exact(void)
{
	struct adm_info in = zk_info();
	CU_ASSERT_STRING_EQUAL(run("srvr", &in),
			       "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
			       "Latency min/avg/max: 1/3.2222/8\nReceived: 11\nSent: 10\nConnections: 2\n"
			       "Outstanding: 0\nZxid: 0x4\nMode: standalone\nNode count: 8\n");
	in.packets_received = 12;
	in.packets_sent = 11;
	CU_ASSERT_STRING_EQUAL(run("stat", &in),
			       "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
			       "Clients:\n /127.0.0.1:44616[1](queued=0,recved=9,sent=9)\n"
			       " /127.0.0.1:44642[0](queued=0,recved=1,sent=0)\n\n"
			       "Latency min/avg/max: 1/3.2222/8\nReceived: 12\nSent: 11\nConnections: 2\n"
			       "Outstanding: 0\nZxid: 0x4\nMode: standalone\nNode count: 8\n");
	conns[1].port = 44732;
	CU_ASSERT_STRING_EQUAL(run("cons", &in),
			       " /127.0.0.1:44616[1](queued=0,recved=9,sent=9,sid=0x1000006f3d10000,lop=EXIS,"
			       "est=1795316104220,to=10000,lcxid=0x8,lzxid=0x4,lresp=463283,llat=1,minlat=0,"
			       "avglat=3,maxlat=8)\n /127.0.0.1:44732[0](queued=0,recved=1,sent=0)\n\n");
	/* leader: proposal sizes; -1 ids print as java's Long.toHexString(-1) */
	in.leader = true;
	in.mode = "leader";
	in.proposal_last = in.proposal_min = in.proposal_max = -1;
	in.lat_min = in.lat_max = in.lat_sum = in.lat_count = 0;
	in.zxid = 0x100000000ull;
	CU_ASSERT_PTR_NOT_NULL(strstr(run("srvr", &in), "Latency min/avg/max: 0/0.0/0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Zxid: 0x100000000\nMode: leader\nNode count: 8\n"
					   "Proposal sizes last/min/max: -1/-1/-1\n"));
	conns[0].lzxid = -1;
	CU_ASSERT_PTR_NOT_NULL(strstr(run("cons", &in), ",lzxid=0xffffffffffffffff,"));
}

static void test_conf_quorum_exact(void)
{
	char dir[256], text[1024], want[2048], err[CFG_ERR_MAX];
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "adm"));
	snprintf(text, sizeof text, "%s/myid", dir);
	FILE *f = fopen(text, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("1\n", f);
	fclose(f);
	snprintf(text, sizeof text,
		 "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=21811\n"
		 "4lw.commands.whitelist=srvr, conf ,mntr,stat\nadmin.enableServer=false\n"
		 "standaloneEnabled=false\nserver.1=127.0.0.1:21888:21889;21811\n",
		 dir);
	CU_ASSERT_EQUAL_FATAL(cfg_parse_buffer("zoo.cfg", text, strlen(text), NULL, 0, &C, err), 0);
	struct adm_info in = zk_info();
	in.cfg = &C;
	in.datadir_bytes = in.logdir_bytes = 525;
	snprintf(want, sizeof want,
		 "clientPort=21811\nsecureClientPort=-1\ndataDir=%s/version-2\ndataDirSize=525\n"
		 "dataLogDir=%s/version-2\ndataLogSize=525\ntickTime=2000\nmaxClientCnxns=60\n"
		 "minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\n"
		 "serverId=1\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=21889\n"
		 "quorumPort=21888\npeerType=0\nmembership: \n"
		 "server.1=127.0.0.1:21888:21889:participant;0.0.0.0:21811\nversion=0",
		 dir, dir);
	CU_ASSERT_STRING_EQUAL(run("conf", &in), want);
	/* whitelist from that zoo.cfg: ruok and wchs are refused, as ZooKeeper did */
	CU_ASSERT_STRING_EQUAL(run("ruok", &in),
			       "ruok is not executed because it is not in the whitelist.\n");
	CU_ASSERT_STRING_EQUAL(run("wchs", &in),
			       "wchs is not executed because it is not in the whitelist.\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(run("srvr", &in), "Mode: standalone\n"));
	cfg_free(&C);
	tn_tmpdir_remove(dir);
	/* standalone conf stops at serverId */
	const char *sa = "dataDir=/tmp/x\nclientPort=21810\ntickTime=2000\n4lw.commands.whitelist=*\n";
	CU_ASSERT_EQUAL_FATAL(cfg_parse_buffer("zoo.cfg", sa, strlen(sa), NULL, 0, &C, err), 0);
	in.cfg = &C;
	in.datadir_bytes = in.logdir_bytes = 67109337;
	CU_ASSERT_STRING_EQUAL(run("conf", &in),
			       "clientPort=21810\nsecureClientPort=-1\ndataDir=/tmp/x/version-2\n"
			       "dataDirSize=67109337\ndataLogDir=/tmp/x/version-2\ndataLogSize=67109337\n"
			       "tickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\n"
			       "maxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n");
	cfg_free(&C);
}

static void test_watches_exact(void)
{
	struct adm_info in = zk_info();
	CU_ASSERT_STRING_EQUAL(run("wchs", &in), "1 connections watching 2 paths\nTotal watches:2\n");
	CU_ASSERT_STRING_EQUAL(run("wchc", &in), "0x1000006f3d10000\n\t/a\n\t/a/b\n\n");
	CU_ASSERT_STRING_EQUAL(run("wchp", &in),
			       "/a\n\t0x1000006f3d10000\n/a/b\n\t0x1000006f3d10000\n\n");
	/* totals only (no array) */
	in.watches = NULL;
	in.watch_count = 10;
	in.watch_sessions = 3;
	in.watch_paths = 4;
	CU_ASSERT_STRING_EQUAL(run("wchs", &in), "3 connections watching 4 paths\nTotal watches:10\n");
	CU_ASSERT_STRING_EQUAL(run("wchc", &in), "\n");
	/* several sessions on one path */
	struct adm_watch w3[3] = { { 2, "/x" }, { 1, "/x" }, { 1, "/y" } };
	in.watches = w3;
	in.watch_count = 3;
	CU_ASSERT_STRING_EQUAL(run("wchp", &in), "/x\n\t0x1\n\t0x2\n/y\n\t0x1\n\n");
	CU_ASSERT_STRING_EQUAL(run("wchs", &in), "2 connections watching 2 paths\nTotal watches:3\n");
}

static uint64_t utc_ms(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = s };
	return (uint64_t)timegm(&tm) * 1000;
}

static void test_dump_exact(void)
{
	struct adm_info in = zk_info();
	const char *eph[] = { "/e" };
	struct adm_session s = { .sid = SID, .expire_ms = utc_ms(2026, 11, 22, 2, 55, 15),
				 .ephemerals = eph, .ephemeral_count = 1 };
	in.sessions = &s;
	in.session_count = 1;
	conns[0].expire_ms = conns[1].expire_ms = utc_ms(2026, 11, 22, 2, 55, 21);
	conns[1].port = 44738;
	CU_ASSERT_STRING_EQUAL(run("dump", &in),
			       "SessionTracker dump:\nSession Sets (1)/(1):\n"
			       "1 expire at Sun Nov 22 02:55:15 UTC 2026:\n\t0x1000006f3d10000\n"
			       "ephemeral nodes dump:\nSessions with Ephemerals (1):\n"
			       "0x1000006f3d10000:\n\t/e\nConnections dump:\n"
			       "Connections Sets (1)/(2):\n2 expire at Sun Nov 22 02:55:21 UTC 2026:\n"
			       "\tip: /127.0.0.1:44616 sessionId: 0x1000006f3d10000\n"
			       "\tip: /127.0.0.1:44738 sessionId: 0x0\n");
}

static void test_simple_words(void)
{
	struct adm_info in = zk_info();
	CU_ASSERT_STRING_EQUAL(run("ruok", &in), "imok");
	CU_ASSERT_STRING_EQUAL(run("isro", &in), "rw");
	CU_ASSERT_STRING_EQUAL(run("dirs", &in), "datadir_size: 67109337\nlogdir_size: 67109337\n");
	CU_ASSERT_STRING_EQUAL(run("crst", &in), "Connection stats reset.\n");
	CU_ASSERT_STRING_EQUAL(run("srst", &in), "Server stats reset.\n");
	in.trace_mask = 306;
	CU_ASSERT_STRING_EQUAL(run("gtmk", &in), "306");
	in.mode = "read-only";
	CU_ASSERT_STRING_EQUAL(run("isro", &in), "ro");
	/* not serving */
	in.serving = false;
	CU_ASSERT_STRING_EQUAL(run("isro", &in), "null");
	CU_ASSERT_STRING_EQUAL(run("ruok", &in), "imok");
	CU_ASSERT_STRING_EQUAL(run("srvr", &in),
			       "This ZooKeeper instance is not currently serving requests\n");
	CU_ASSERT_STRING_EQUAL(run("mntr", &in),
			       "This ZooKeeper instance is not currently serving requests\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(run("envi", &in), "Environment:\n"));
	/* not a word: the caller reads a length prefix instead */
	CU_ASSERT_EQUAL(adm_4lw_buf("xxxx", &in, out, sizeof out), -ENOENT);
	CU_ASSERT_EQUAL(adm_4lw_buf("\0\0\0\x10", &in, out, sizeof out), -ENOENT);
	CU_ASSERT_TRUE(adm_is_4lw("wchp"));
	CU_ASSERT_FALSE(adm_is_4lw("WCHP"));
	/* a small buffer */
	in.serving = true;
	CU_ASSERT_EQUAL(adm_4lw_buf("srvr", &in, out, 10), -ENOSPC);
	CU_ASSERT_EQUAL(adm_4lw_buf("ruok", &in, out, 5), 4);
	CU_ASSERT_EQUAL(adm_4lw_buf("ruok", &in, out, 4), -ENOSPC);
}

static void test_force_sync_line(void)
{
	char err[CFG_ERR_MAX];
	const char *t = "dataDir=/d\nclientPort=1\nforceSync=no\n4lw.commands.whitelist=*\n";
	CU_ASSERT_EQUAL_FATAL(cfg_parse_buffer("zoo.cfg", t, strlen(t), NULL, 0, &C, err), 0);
	struct adm_info in = zk_info();
	in.cfg = &C;
	CU_ASSERT_PTR_NOT_NULL(strstr(run("srvr", &in), "Node count: 8\nForce sync: no (fsync disabled)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(run("stat", &in), "Force sync: no"));
	C.force_sync = true;
	CU_ASSERT_PTR_NULL(strstr(run("srvr", &in), "Force sync"));
	cfg_free(&C);
}

static void test_mntr_format(void)
{
	struct adm_info in = zk_info();
	struct adm_metric m[2] = {
		{ .name = "fsynctime", .summary = true, .min = 1, .max = 3, .sum = 4, .count = 3 },
		{ .name = "throttled_ops", .value = 7 },
	};
	in.metrics = m;
	in.metric_count = 2;
	in.ephemerals_count = 1;
	in.approximate_data_size = 52;
	in.leader = true;
	in.mode = "leader";
	in.peer_state = "leading - broadcast";
	in.synced_followers = 2;
	in.proposal_last = 10;
	in.proposal_min = 5;
	in.proposal_max = 20;
	const char *t = run("mntr", &in);
	CU_ASSERT_EQUAL(strncmp(t, "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
				   "zk_server_state\tleader\nzk_peer_state\tleading - broadcast\n"
				   "zk_ephemerals_count\t1\nzk_num_alive_connections\t2\n"
				   "zk_avg_latency\t3.2222\nzk_outstanding_requests\t0\nzk_znode_count\t8\n",
				strlen("zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
				       "zk_server_state\tleader\nzk_peer_state\tleading - broadcast\n"
				       "zk_ephemerals_count\t1\nzk_num_alive_connections\t2\n"
				       "zk_avg_latency\t3.2222\nzk_outstanding_requests\t0\nzk_znode_count\t8\n")),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_watch_count\t2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_approximate_data_size\t52\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_synced_followers\t2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_last_proposal_size\t10\nzk_min_proposal_size\t5\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_avg_fsynctime\t1.3333\nzk_min_fsynctime\t1\n"
					 "zk_max_fsynctime\t3\nzk_cnt_fsynctime\t3\nzk_sum_fsynctime\t4\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nzk_throttled_ops\t7\n"));
	/* every line is zk_<key>TAB<value> */
	unsigned lines = 0;
	for (const char *l = t; *l; lines++) {
		const char *nl = strchr(l, '\n');
		CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
		const char *tab = memchr(l, '\t', (size_t)(nl - l));
		CU_ASSERT_EQUAL(strncmp(l, "zk_", 3), 0);
		CU_ASSERT_PTR_NOT_NULL(tab);
		CU_ASSERT_PTR_NULL(tab ? memchr(tab + 1, '\t', (size_t)(nl - tab - 1)) : NULL);
		l = nl + 1;
	}
	CU_ASSERT(lines > 25);
}

/* kazoo's KazooClient.server_version(): split envi lines on '=', take
 * zookeeper.version, cut at '-', every part an int. */
static void test_envi_kazoo_version(void)
{
	struct adm_info in = { .serving = true };
	adm_env_fill(&in);
	const char *t = run("envi", &in);
	CU_ASSERT_EQUAL(strncmp(t, "Environment:\nzookeeper.version=3.9.2-tern, built on ", 51), 0);
	const char *v = strstr(t, "\nzookeeper.version=");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	v += strlen("\nzookeeper.version=");
	int a, b, c;
	char dash;
	CU_ASSERT_EQUAL(sscanf(v, "%d.%d.%d%c", &a, &b, &c, &dash), 4);
	CU_ASSERT_EQUAL(a, 3);
	CU_ASSERT_EQUAL(b, 9);
	CU_ASSERT_EQUAL(dash, '-');
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\ntern.server=tern " ADM_TERN_VERSION "\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nos.name=Linux\n"));
	char want[1100];
	snprintf(want, sizeof want, "\nuser.dir=%s\n", in.user_dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, want));
	/* every line after the first is key=value */
	for (const char *l = strchr(t, '\n') + 1; *l; l = strchr(l, '\n') + 1)
		CU_ASSERT_PTR_NOT_NULL(memchr(l, '=', (size_t)(strchr(l, '\n') - l)));
}

static void test_avg_format(void)
{
	char b[32];
	adm_fmt_avg(b, 29, 9);
	CU_ASSERT_STRING_EQUAL(b, "3.2222");
	adm_fmt_avg(b, 0, 0);
	CU_ASSERT_STRING_EQUAL(b, "0.0");
	adm_fmt_avg(b, 9, 2);
	CU_ASSERT_STRING_EQUAL(b, "4.5");
	adm_fmt_avg(b, 2, 3);
	CU_ASSERT_STRING_EQUAL(b, "0.6667");
	adm_fmt_avg(b, 30000000, 3);
	CU_ASSERT_STRING_EQUAL(b, "1.0E7");
	adm_fmt_avg(b, 123456785, 10);
	CU_ASSERT_STRING_EQUAL(b, "1.23456785E7");
	adm_fmt_avg(b, UINT64_MAX, 1);
	CU_ASSERT(strchr(b, 'E') != NULL);
}

static void test_large_reply_grows(void)
{
	/* 20000 watches: the writer grows past its first buffer and stays exact */
	enum { N = 20000 };
	struct adm_watch *w = calloc(N, sizeof *w);
	char (*paths)[16] = calloc(N, 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(paths);
	for (unsigned i = 0; i < N; i++) {
		snprintf(paths[i], 16, "/p%05u", i);
		w[i] = (struct adm_watch){ .sid = i % 7, .path = paths[i] };
	}
	struct adm_info in = { .serving = true, .watches = w, .watch_count = N };
	struct adm_out o;
	adm_out_init(&o);
	int rc = adm_4lw("wchp", &in, &o);
	CU_ASSERT_EQUAL(rc, (int)(N * (7 + 1 + 5)) + 1); /* "/pNNNNN\n\t0xK\n" each, then "\n" */
	CU_ASSERT_EQUAL(strncmp(o.buf, "/p00000\n\t0x0\n/p00001\n\t0x1\n", 26), 0);
	rc = adm_4lw("wchs", &in, &o); /* appends */
	CU_ASSERT(rc > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.buf, "7 connections watching 20000 paths\nTotal watches:20000\n"));
	adm_out_free(&o);
	free(w);
	free(paths);
}

static void test_dir_bytes_and_fds(void)
{
	char dir[256], path[300];
	uint64_t bytes = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(tn_tmpdir_make(dir, sizeof dir, "adm"));
	CU_ASSERT_EQUAL(adm_dir_bytes(dir, &bytes), 0);
	CU_ASSERT_EQUAL(bytes, 0);
	snprintf(path, sizeof path, "%s/log.1", dir);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(out, 1, 1000, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/sub", dir);
	CU_ASSERT_EQUAL(mkdir(path, 0700), 0); /* not counted */
	CU_ASSERT_EQUAL(adm_dir_bytes(dir, &bytes), 0);
	CU_ASSERT_EQUAL(bytes, 1000);
	tn_tmpdir_remove(dir);
	CU_ASSERT_EQUAL(adm_dir_bytes(dir, &bytes), -ENOENT);
	struct adm_info in = { 0 };
	adm_fds_fill(&in);
	CU_ASSERT(in.open_fds >= 3); /* stdin, stdout, stderr at least */
	int fd = dup(1);
	uint64_t before = in.open_fds;
	adm_fds_fill(&in);
	CU_ASSERT_EQUAL(in.open_fds, before + 1);
	close(fd);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	CU_ASSERT_EQUAL(in.max_fds, rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur);
}

static CU_TestInfo tests[] = {
	{ "dir_bytes_and_fds", test_dir_bytes_and_fds },
	{ "srvr_stat_cons_exact", test_srvr_stat_cons_exact },
	{ "conf_quorum_exact", test_conf_quorum_exact },
	{ "watches_exact", test_watches_exact },
	{ "dump_exact", test_dump_exact },
	{ "simple_words", test_simple_words },
	{ "force_sync_line", test_force_sync_line },
	{ "mntr_format", test_mntr_format },
	{ "envi_kazoo_version", test_envi_kazoo_version },
	{ "avg_format", test_avg_format },
	{ "large_reply_grows", test_large_reply_grows },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "mgmt_admin", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	tn_log_set_level(TN_LOG_ERROR);
	return tn_test_main(argc, argv, suites);
}
