/* tools/tern_cli.h: how the `tern` CLI's commands are written and registered
 * (internal to the tern executable; the library header is tools/ternc.h).
 *
 * A command is a struct tern_cmd in any .c file linked into `tern`,
 * registered at start-up with TERN_CLI_REGISTER:
 *
 *     static int cmd_members(int argc, char **argv, struct tern_cli *ctx);
 *     static const struct tern_cmd members_cmd = {
 *         "members", "members PATH", "list the live members of a group", cmd_members};
 *     TERN_CLI_REGISTER(members_cmd)
 *
 * then add the file to the `tern` executable's sources in tools/meson.build.
 * main() strips the global options (--server, --json, --auth, --timeout)
 * that appear before a "--" token, answers `tern CMD --help` from @usage and
 * @summary, and calls @fn with argv[0] = the command name. @fn returns an
 * exit code: TERN_EXIT_OK, TERN_EXIT_ZK (a ZooKeeper error, printed with
 * tern_cli_zkerr), TERN_EXIT_USAGE (print with tern_cli_usage), or any other
 * code it means (e.g. a child's exit status for `tern lock PATH -- CMD`).
 */
#ifndef TERN_CLI_H
#define TERN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/ternc.h"

enum { TERN_EXIT_OK = 0, TERN_EXIT_ZK = 1, TERN_EXIT_USAGE = 2 };

#define TERN_CLI_CMDS_MAX 64 /* commands in one binary */
#define TERN_CLI_AUTH_MAX 8  /* --auth options */
#define TERN_SERVER_DEFAULT "127.0.0.1:2181"

struct tern_cli {
	const char *server; /* --server, else $TERN_SERVER, else TERN_SERVER_DEFAULT */
	bool json;          /* --json: one JSON document (or JSON lines for streams) */
	int timeout_ms;     /* --timeout: session timeout asked for (default 10000) */
	const char *auth[TERN_CLI_AUTH_MAX]; /* "scheme:cred", e.g. "digest:user:pass" */
	int nauth;
	int transport;      /* --transport: enum ternc_transport (default TERNC_TCP) */
	bool transport_set; /* --transport was given */
	struct ternc_dpdk_cfg dpdk; /* --dpdk-*: UDP through a DPDK port (.port NULL: none) */
	struct ternc_loop *loop; /* made by tern_cli_session */
	struct ternc *zk;
	const struct tern_cmd *cmd; /* the command being run */
};

struct tern_cmd {
	const char *name;
	const char *usage;   /* "ls [-R] PATH" */
	const char *summary; /* one line for `tern --help` */
	int (*fn)(int argc, char **argv, struct tern_cli *ctx);
};

/* Add @cmd to the table (called by TERN_CLI_REGISTER's constructor). */
void tern_cli_register(const struct tern_cmd *cmd);
#define TERN_CLI_REGISTER(cmd)                                                                     \
	__attribute__((constructor)) static void tern_cli_register_##cmd(void)                     \
	{                                                                                          \
		tern_cli_register(&(cmd));                                                         \
	}

/**
 * Open (once) a session to ctx->server, wait until connected (bounded by the
 * session timeout) and send every --auth. On success *@out is the session,
 * closed by main() after the command returns. On failure the reason is
 * printed. Return: TERN_EXIT_OK, TERN_EXIT_ZK.
 */
int tern_cli_session(struct tern_cli *ctx, struct ternc **out);

/* Print "tern: WHAT PATH: NoNode (...)" (or a JSON error object with --json)
 * to stderr; return TERN_EXIT_ZK. @path may be NULL. */
int tern_cli_zkerr(struct tern_cli *ctx, const char *what, const char *path, int err);
/* Print "usage: tern USAGE" for the current command; return TERN_EXIT_USAGE. */
int tern_cli_usage(struct tern_cli *ctx, const char *why);

/* JSON helpers: a string literal with escapes (bytes that are not UTF-8
 * become \u00XX), and a Stat object. */
void tern_json_str(FILE *f, const char *s, size_t len);
void tern_json_stat(FILE *f, const struct zstat *st);

/* True once SIGINT/SIGTERM arrived (for long-running commands such as watch). */
bool tern_cli_interrupted(void);

#endif
