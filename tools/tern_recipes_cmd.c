/* tools/tern_recipes_cmd.c: the recipe commands of the `tern` CLI, over
 * tools/ternr.h.
 *
 *   tern lock [--read|--write] [-w MS] [-v] PATH -- CMD...
 *   tern elect [--id ID] [-v] PATH [-- CMD...]   (no CMD: print the leader)
 *   tern barrier [--leave] [--name NAME] PATH N [-- CMD...]
 *   tern queue push [-p PRIO] PATH DATA | tern queue pop [--wait [MS]] PATH
 *   tern members [--join NAME [--data DATA]] PATH
 *
 * lock/elect run CMD while holding the lock (leadership), with the fencing
 * token in TERN_FENCING_TOKEN and the lock node in TERN_LOCK_NODE, and exit
 * with CMD's status (128+N if a signal N ended it). If ownership is lost
 * (session expired, node deleted, or disconnected for longer than the
 * session timeout) CMD gets SIGTERM (SIGKILL after RUN_KILL_GRACE_MS) and
 * tern exits EXIT_LOST. SIGINT/SIGTERM to tern are passed on to CMD.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/tern_cli.h"
#include "tools/ternr.h"

#define EXIT_LOST 3            /* lock/leadership lost while CMD ran */
#define RUN_POLL_MS 50         /* loop slice while CMD runs */
#define RUN_KILL_GRACE_MS 5000 /* SIGTERM to SIGKILL */
#define ID_DEFAULT_MAX 128

static bool cli_cancel(void)
{
	return tern_cli_interrupted();
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* argv index of "--", or -1. */
static int find_dashdash(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return -1;
}

static int wait_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* SIGTERM @pid, SIGKILL after the grace period; reap it. */
static void stop_child(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	for (int64_t end = ms_now() + RUN_KILL_GRACE_MS; ms_now() < end;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Run @cmd while @l stays held. Return: the exit code for tern. */
static int run_holding(struct tern_cli *ctx, struct ternr_lock *l, char **cmd)
{
	char tok[32];
	snprintf(tok, sizeof(tok), "%" PRId64, ternr_lock_token(l));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "tern: fork: %s\n", strerror(errno));
		return TERN_EXIT_ZK;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		setenv("TERN_FENCING_TOKEN", tok, 1);
		setenv("TERN_LOCK_NODE", ternr_lock_node(l), 1);
		execvp(cmd[0], cmd);
		fprintf(stderr, "tern: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	bool forwarded = false;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return wait_status(st);
		if (tern_cli_interrupted() && !forwarded) {
			kill(pid, SIGTERM);
			forwarded = true;
		}
		int rc = ternr_lock_check(l);
		if (rc != ZK_OK && rc != ZK_ECONNECTIONLOSS) {
			fprintf(stderr, "tern: lost %s (%s): stopping the command\n",
				ternr_lock_node(l), ternc_strerror(rc));
			stop_child(pid);
			return EXIT_LOST;
		}
		ternc_loop_run(ctx->loop, RUN_POLL_MS);
	}
}

struct lock_args {
	const char *path;
	int kind;
	int wait_ms;
	bool verbose;
	const char *id;
	char **cmd;
};

static int lock_and_run(struct tern_cli *ctx, const struct lock_args *a, const char *what)
{
	struct ternc *zk;
	struct ternr_lock *l = NULL;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	ternr_set_cancel(cli_cancel);
	struct ternr_lock_cfg cfg = {.path = a->path,
				     .kind = a->kind,
				     .data = a->id,
				     .len = a->id ? (int32_t)strlen(a->id) : 0};
	rc = ternr_lock_new(zk, &cfg, &l);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, what, a->path, rc);
	rc = ternr_lock_acquire(l, a->wait_ms);
	if (rc != ZK_OK) {
		ternr_lock_free(l);
		if (rc == TERNR_ECANCELED) {
			fprintf(stderr, "tern: %s %s: interrupted\n", what, a->path);
			return 130;
		}
		return tern_cli_zkerr(ctx, what, a->path, rc);
	}
	if (a->verbose)
		fprintf(stderr, "tern: acquired %s token %" PRId64 " wakeups %u\n",
			ternr_lock_node(l), ternr_lock_token(l), ternr_lock_wakeups(l));
	int code = run_holding(ctx, l, a->cmd);
	if (code != EXIT_LOST) {
		rc = ternr_lock_release(l);
		if (rc != ZK_OK)
			tern_cli_zkerr(ctx, "release", ternr_lock_node(l), rc);
	}
	ternr_lock_free(l);
	return code;
}

static int cmd_lock(int argc, char **argv, struct tern_cli *ctx)
{
	struct lock_args a = {.kind = TERNR_LOCK_EXCLUSIVE, .wait_ms = -1};
	int dd = find_dashdash(argc, argv);
	if (dd < 0 || dd + 1 >= argc)
		return tern_cli_usage(ctx, "missing -- CMD");
	for (int i = 1; i < dd; i++) {
		if (strcmp(argv[i], "--read") == 0)
			a.kind = TERNR_LOCK_READ;
		else if (strcmp(argv[i], "--write") == 0)
			a.kind = TERNR_LOCK_WRITE;
		else if (strcmp(argv[i], "-v") == 0)
			a.verbose = true;
		else if (strcmp(argv[i], "-w") == 0 && i + 1 < dd)
			a.wait_ms = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !a.path)
			a.path = argv[i];
		else
			return tern_cli_usage(ctx, "bad argument");
	}
	if (!a.path)
		return tern_cli_usage(ctx, "missing PATH");
	a.cmd = argv + dd + 1;
	return lock_and_run(ctx, &a, "lock");
}

static const struct tern_cmd lock_cmd = {
    "lock", "lock [--read|--write] [-w MS] [-v] PATH -- CMD...",
    "run CMD holding a lock (fencing token in $TERN_FENCING_TOKEN)", cmd_lock};
TERN_CLI_REGISTER(lock_cmd)

static int show_leader(struct tern_cli *ctx, const char *path)
{
	struct ternc *zk;
	char id[TERNR_ID_MAX];
	int64_t token = 0;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	rc = ternr_leader_get(zk, path, id, sizeof(id), &token);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "elect", path, rc);
	if (ctx->json) {
		printf("{\"leader\":");
		tern_json_str(stdout, id, strlen(id));
		printf(",\"token\":%" PRId64 "}\n", token);
	} else {
		printf("%s\n", id);
	}
	return TERN_EXIT_OK;
}

static int cmd_elect(int argc, char **argv, struct tern_cli *ctx)
{
	char defid[ID_DEFAULT_MAX], host[64] = "host";
	struct lock_args a = {.kind = TERNR_LOCK_EXCLUSIVE, .wait_ms = -1};
	int dd = find_dashdash(argc, argv);
	int end = dd < 0 ? argc : dd;
	for (int i = 1; i < end; i++) {
		if (strcmp(argv[i], "--id") == 0 && i + 1 < end)
			a.id = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			a.verbose = true;
		else if (argv[i][0] != '-' && !a.path)
			a.path = argv[i];
		else
			return tern_cli_usage(ctx, "bad argument");
	}
	if (!a.path)
		return tern_cli_usage(ctx, "missing PATH");
	if (dd < 0)
		return show_leader(ctx, a.path);
	if (dd + 1 >= argc)
		return tern_cli_usage(ctx, "missing CMD after --");
	if (!a.id) {
		gethostname(host, sizeof(host) - 1);
		snprintf(defid, sizeof(defid), "%s:%d", host, (int)getpid());
		a.id = defid;
	}
	a.cmd = argv + dd + 1;
	return lock_and_run(ctx, &a, "elect");
}

static const struct tern_cmd elect_cmd = {
    "elect", "elect [--id ID] [-v] PATH [-- CMD...]",
    "run CMD while leader of PATH; without CMD print the leader's id", cmd_elect};
TERN_CLI_REGISTER(elect_cmd)

static int cmd_barrier(int argc, char **argv, struct tern_cli *ctx)
{
	char defname[ID_DEFAULT_MAX], host[64] = "host";
	const char *path = NULL, *name = NULL, *nstr = NULL;
	bool leave = false;
	int dd = find_dashdash(argc, argv);
	int end = dd < 0 ? argc : dd;
	for (int i = 1; i < end; i++) {
		if (strcmp(argv[i], "--leave") == 0)
			leave = true;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < end)
			name = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else if (argv[i][0] != '-' && !nstr)
			nstr = argv[i];
		else
			return tern_cli_usage(ctx, "bad argument");
	}
	long n = nstr ? strtol(nstr, NULL, 10) : 0;
	if (!path || n <= 0 || n > TERNR_CHILDREN_MAX)
		return tern_cli_usage(ctx, "want PATH N (N > 0)");
	if (!name) {
		gethostname(host, sizeof(host) - 1);
		snprintf(defname, sizeof(defname), "%s-%d", host, (int)getpid());
		name = defname;
	}
	struct ternc *zk;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	ternr_set_cancel(cli_cancel);
	rc = ternr_dbarrier_enter(zk, path, name, (uint32_t)n, -1);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "barrier enter", path, rc);
	printf("entered %s\n", path);
	fflush(stdout);
	int code = TERN_EXIT_OK;
	if (dd >= 0 && dd + 1 < argc) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			execvp(argv[dd + 1], argv + dd + 1);
			_exit(127);
		}
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return TERN_EXIT_ZK;
		code = wait_status(st);
	}
	if (leave) {
		rc = ternr_dbarrier_leave(zk, path, name, -1);
		if (rc != ZK_OK)
			return tern_cli_zkerr(ctx, "barrier leave", path, rc);
		printf("left %s\n", path);
	}
	return code;
}

static const struct tern_cmd barrier_cmd = {
    "barrier", "barrier [--leave] [--name NAME] PATH N [-- CMD...]",
    "double barrier: wait until N entered, run CMD, with --leave wait until all left", cmd_barrier};
TERN_CLI_REGISTER(barrier_cmd)

static int queue_pop(struct tern_cli *ctx, struct ternc *zk, int argc, char **argv)
{
	const char *path = NULL;
	int wait_ms = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0) {
			wait_ms = -1;
			if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9')
				wait_ms = atoi(argv[++i]);
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			return tern_cli_usage(ctx, "bad argument");
		}
	}
	if (!path)
		return tern_cli_usage(ctx, "missing PATH");
	struct ternr_item *it = NULL;
	ternr_set_cancel(cli_cancel);
	int rc = ternr_queue_pop(zk, path, wait_ms, &it);
	if (rc == ZK_ENONODE) {
		fprintf(stderr, "tern: queue %s is empty\n", path);
		return TERN_EXIT_ZK;
	}
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "queue pop", path, rc);
	if (ctx->json) {
		printf("{\"item\":");
		tern_json_str(stdout, it->name, strlen(it->name));
		printf(",\"data\":");
		tern_json_str(stdout, (const char *)it->data, it->len > 0 ? (size_t)it->len : 0);
		printf("}\n");
	} else {
		fwrite(it->data, 1, it->len > 0 ? (size_t)it->len : 0, stdout);
		putchar('\n');
	}
	ternr_item_free(it);
	return TERN_EXIT_OK;
}

static int cmd_queue(int argc, char **argv, struct tern_cli *ctx)
{
	struct ternc *zk;
	if (argc < 2 || (strcmp(argv[1], "push") != 0 && strcmp(argv[1], "pop") != 0))
		return tern_cli_usage(ctx, "want push or pop");
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	if (strcmp(argv[1], "pop") == 0)
		return queue_pop(ctx, zk, argc, argv);
	const char *path = NULL, *data = NULL;
	long prio = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
			prio = strtol(argv[++i], NULL, 10);
		else if (!path)
			path = argv[i];
		else if (!data)
			data = argv[i];
		else
			return tern_cli_usage(ctx, "bad argument");
	}
	if (!path || !data || prio < 0 || prio > TERNR_PRIO_MAX)
		return tern_cli_usage(ctx, "want [-p PRIO] PATH DATA");
	rc = ternr_queue_push(zk, path, (uint32_t)prio, data, (int32_t)strlen(data));
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "queue push", path, rc);
	return TERN_EXIT_OK;
}

static const struct tern_cmd queue_cmd = {
    "queue", "queue push [-p PRIO] PATH DATA | queue pop [--wait [MS]] PATH",
    "FIFO/priority queue: push an item, or take the first one exactly once", cmd_queue};
TERN_CLI_REGISTER(queue_cmd)

static void print_members(struct tern_cli *ctx, const struct ternr_members *m)
{
	if (ctx->json) {
		printf("{\"members\":[");
		for (uint32_t i = 0; i < m->count; i++) {
			printf("%s{\"name\":", i ? "," : "");
			tern_json_str(stdout, m->v[i].name, strlen(m->v[i].name));
			printf(",\"data\":");
			tern_json_str(stdout, (const char *)m->v[i].data,
				      m->v[i].len > 0 ? (size_t)m->v[i].len : 0);
			printf("}");
		}
		printf("]}\n");
		return;
	}
	for (uint32_t i = 0; i < m->count; i++)
		printf(m->v[i].len > 0 ? "%s %s\n" : "%s\n", m->v[i].name,
		       (const char *)m->v[i].data);
}

static void members_changed(struct ternc *c, int err, const char *const *names, uint32_t count,
			    void *arg)
{
	(void)c;
	int *done = arg;
	if (err != ZK_OK) {
		fprintf(stderr, "tern: members: %s\n", ternc_strerror(err));
		*done = 1;
		return;
	}
	printf("members:");
	for (uint32_t i = 0; i < count; i++)
		printf(" %s", names[i]);
	printf("\n");
	fflush(stdout);
}

static int cmd_members(int argc, char **argv, struct tern_cli *ctx)
{
	const char *path = NULL, *join = NULL, *data = "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--join") == 0 && i + 1 < argc)
			join = argv[++i];
		else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else
			return tern_cli_usage(ctx, "bad argument");
	}
	if (!path)
		return tern_cli_usage(ctx, "missing PATH");
	struct ternc *zk;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	if (!join) {
		struct ternr_members *m = NULL;
		rc = ternr_group_list(zk, path, &m);
		if (rc != ZK_OK)
			return tern_cli_zkerr(ctx, "members", path, rc);
		print_members(ctx, m);
		ternr_members_free(m);
		return TERN_EXIT_OK;
	}
	rc = ternr_group_join(zk, path, join, data, (int32_t)strlen(data));
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "join", path, rc);
	printf("joined %s as %s\n", path, join);
	fflush(stdout);
	int done = 0;
	struct ternr_watcher *w = NULL;
	rc = ternr_group_watch(zk, path, members_changed, &done, &w);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "members", path, rc);
	while (!done && !tern_cli_interrupted())
		ternc_loop_run(ctx->loop, 200);
	ternr_watcher_free(w);
	return done ? TERN_EXIT_ZK : TERN_EXIT_OK;
}

static const struct tern_cmd members_cmd = {
    "members", "members [--join NAME [--data DATA]] PATH",
    "list a group's members; with --join stay a member and print changes until interrupted",
    cmd_members};
TERN_CLI_REGISTER(members_cmd)
