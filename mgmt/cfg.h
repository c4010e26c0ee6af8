/* mgmt/cfg.h: tern's configuration, read from a ZooKeeper zoo.cfg file plus
 * ZooKeeper's Java system properties (-Dname=value in SERVER_JVMFLAGS/JVMFLAGS).
 *
 * One model, as ZooKeeper has it: a zoo.cfg line is either a key that
 * QuorumPeerConfig parses itself (tickTime, dataDir, server.N, ...) or it becomes
 * the system property "zookeeper.<key>" (snapCount -> zookeeper.snapCount).
 * Well-known properties are then read from the property table. Precedence
 * follows from the JVM's order of events:
 *   1. -D flags from SERVER_JVMFLAGS, then JVMFLAGS (zkServer.sh joins them in
 *      that order; a later -D of the same name wins, as in java);
 *   2. zoo.cfg lines, in file order; zoo.cfg's System.setProperty runs after the
 *      JVM started, so a zoo.cfg line overrides a -D flag of the same property.
 * tern extension: a zoo.cfg key that already is a well-known property name
 * (readonlymode.enabled, jute.maxbuffer, zookeeper.*, znode.container.*,
 * java.security.auth.login.config) is stored under that name, unprefixed, so
 * every -D setting can also be written in zoo.cfg. tern's own keys are tern.*.
 *
 * Syntax: java.util.Properties (key=value, key: value, key value; # and !
 * comments; backslash continuation and escapes); values are trimmed as
 * QuorumPeerConfig does. A repeated key: the last line wins (java), except
 * server.N: a repeated id (server.1 twice, or server.1 and server.01) is an
 * error here, where ZooKeeper 3.8 silently keeps one of them.
 *
 * Where tern differs from ZooKeeper on purpose:
 * - JVMFLAGS is split like a shell word list ("-Dx='a b'" works); zkServer.sh
 *   passes it unquoted, so there quotes would stay literal.
 * - A bad value of a -D property is an error (java falls back to the default).
 * - booleans accept true/false/yes/no in any case; forceSync likewise.
 * Checked against ZooKeeper 3.8.0: minSessionTimeout > maxSessionTimeout, a
 * non-numeric tickTime, and a server.N client port that contradicts clientPort
 * all stop ZooKeeper with "Invalid config", as they stop tern. One server.N line
 * with standaloneEnabled=true (the default) runs standalone, without myid.
 */
#ifndef TN_MGMT_CFG_H
#define TN_MGMT_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_SERVERS_MAX 255    /* server.N lines */
#define CFG_PROPS_MAX 1024     /* properties (-D flags + unknown zoo.cfg keys) */
#define CFG_USERS_MAX 256      /* JAAS user_NAME entries */
#define CFG_4LW_MAX 64         /* whitelist entries */
#define CFG_PATH_MAX 1024      /* dataDir, dataLogDir, JAAS path */
#define CFG_HOST_MAX 256       /* host names and addresses */
#define CFG_FILE_MAX (4u << 20) /* zoo.cfg / JAAS file bytes */
#define CFG_ERR_MAX 256        /* caller's error buffer */
#define CFG_ID_MAX 0x7fffffffffffffffull /* server ids are java longs */

enum cfg_peer_type { CFG_PEER_PARTICIPANT = 0, CFG_PEER_OBSERVER = 1 };
enum cfg_polling { CFG_POLL_ADAPTIVE, CFG_POLL_BUSY };
enum cfg_dataplane { CFG_DP_KERNEL, CFG_DP_DPDK };

/* One server.N line: host:quorumPort:electionPort[:type][;[clientHost:]clientPort].
 * Only the first of several '|'-separated addresses is kept (addr_count says how
 * many were given). client_port is -1 when the line has no client part. */
struct cfg_server {
	uint64_t id;
	char host[CFG_HOST_MAX];
	uint16_t quorum_port, election_port;
	enum cfg_peer_type type;
	char client_host[CFG_HOST_MAX]; /* "0.0.0.0" when only a port is given */
	int32_t client_port;
	unsigned addr_count;
	unsigned line; /* zoo.cfg line, for messages */
};

/* Where a property came from, for messages. */
enum cfg_src { CFG_SRC_FILE, CFG_SRC_SERVER_JVMFLAGS, CFG_SRC_JVMFLAGS, CFG_SRC_ARG };

/* A property: key, value, and its origin (the zoo.cfg line, or an env var). */
struct cfg_prop {
	char *key, *val;
	enum cfg_src src;
	unsigned line; /* zoo.cfg line when src == CFG_SRC_FILE */
};

struct cfg_user {
	char *name, *password; /* from JAAS Server { ... user_NAME="password"; } */
};

#define CFG_OBS_MASTER_MAX 8u            /* tern.observer.master candidates */

struct cfg {
	char path[CFG_PATH_MAX]; /* the zoo.cfg that was read ("" for a buffer) */
	/* QuorumPeerConfig keys */
	uint32_t tick_ms;                 /* tickTime, 3000 */
	uint32_t init_limit, sync_limit;  /* ticks; 0 = unset (required with servers) */
	char data_dir[CFG_PATH_MAX];      /* required */
	char data_log_dir[CFG_PATH_MAX];  /* = data_dir */
	int32_t client_port;              /* -1 = unset */
	char client_port_address[CFG_HOST_MAX]; /* "" = all addresses */
	int32_t secure_client_port;       /* -1 = unset; tern warns: no TLS */
	int32_t client_port_listen_backlog; /* -1 = OS default */
	uint32_t session_timeout_ms_min;  /* 2 x tick */
	uint32_t session_timeout_ms_max;  /* 20 x tick */
	uint32_t max_client_cnxns;        /* per IP, 60; 0 = none */
	uint32_t snap_retain_count;       /* autopurge.snapRetainCount, 3 (min 3) */
	uint32_t purge_interval_h;        /* autopurge.purgeInterval, 0 = off */
	uint32_t election_alg;            /* 3 */
	enum cfg_peer_type peer_type;     /* peerType */
	bool standalone_enabled;          /* true */
	bool reconfig_enabled;            /* false */
	bool local_sessions_enabled;      /* false */
	/* admin server */
	bool admin_enable;                /* admin.enableServer, true */
	uint16_t admin_port;              /* admin.serverPort, 8080 */
	char admin_address[CFG_HOST_MAX]; /* admin.serverAddress, 0.0.0.0 */
	/* ensemble */
	struct cfg_server servers[CFG_SERVERS_MAX];
	unsigned server_count;
	uint64_t server_id;               /* myid; 0 when standalone */
	/* values read from properties (zoo.cfg key in parentheses) */
	uint32_t global_outstanding_limit; /* zookeeper.globalOutstandingLimit, 1000 */
	uint32_t snap_count;              /* zookeeper.snapCount (snapCount), 100000 */
	uint64_t pre_alloc_kib;           /* zookeeper.preAllocSize (preAllocSize), 65536 */
	uint32_t jute_maxbuffer;          /* jute.maxbuffer, 0xfffff */
	bool force_sync;                  /* zookeeper.forceSync (forceSync), yes */
	bool extended_types;              /* zookeeper.extendedTypesEnabled, false */
	bool readonly_mode;               /* readonlymode.enabled, false */
	bool skip_acl;                    /* zookeeper.skipACL, false */
	bool sasl_required;               /* zookeeper.sessionRequireClientSASLAuth */
	uint32_t max_cnxns;               /* zookeeper.maxCnxns, 0 = unlimited */
	uint32_t commit_log_count;        /* zookeeper.commitLogCount: committed txns a
					   * leader keeps for DIFF; 0 = tern's default */
	const char *super_digest;         /* zookeeper.DigestAuthenticationProvider.superDigest */
	uint64_t container_check_ms;      /* znode.container.checkIntervalMs, 60000 */
	uint32_t container_max_per_min;   /* znode.container.maxPerMinute, 10000 */
	uint64_t container_never_used_ms; /* znode.container.maxNeverUsedIntervalMs, 0 */
	/* 4lw.commands.whitelist: "*" = all; default srvr (+ isro in readonly mode) */
	bool wl_all;
	char wl[CFG_4LW_MAX][4];
	unsigned wl_count;
	/* java.security.auth.login.config: JAAS "Server" section users */
	char jaas_path[CFG_PATH_MAX];
	struct cfg_user users[CFG_USERS_MAX];
	unsigned user_count;
	/* tern.* */
	uint32_t workers;                 /* tern.workers, online CPUs - 1 (at least 1) */
	enum cfg_polling polling;         /* tern.polling, adaptive */
	enum cfg_dataplane dataplane;     /* tern.dataplane, kernel */
	int log_level;                    /* tern.log.level (enum tn_log_level), info */
	/* tern.observer.master=K[,K2...] (observer): learner masters to follow
	 * before the leader, in order; 0 ends. With ZooKeeper's
	 * observerMasterPort and no tern key: the voters, from one after myid */
	uint32_t observer_master[CFG_OBS_MASTER_MAX];
	int32_t udp_port;                 /* tern.udp.port: native datagram protocol; -1 (unset)
					   * = clientPort if free, 0 = off */
	/* every property, including group.N / weight.N / metricsProvider.* /
	 * zookeeper.authProvider.* as given (they are recorded, not used) */
	struct cfg_prop *props;
	unsigned prop_count, prop_cap;
};

/**
 * Fill @c with ZooKeeper's defaults (no file, no properties). @c needs no
 * cfg_free() until a property is added.
 */
void cfg_defaults(struct cfg *c);

/**
 * Read -D flags from SERVER_JVMFLAGS and JVMFLAGS, then the zoo.cfg at @path,
 * then the JAAS file and dataDir/myid as needed, and check the result.
 * On failure @err (CFG_ERR_MAX bytes) names the file, line and key.
 * Return: 0; -EINVAL (bad value or syntax); -ENOENT/-EACCES/... (a file could
 * not be read); -E2BIG (a file or table is over its limit); -ENOMEM.
 * On success call cfg_free(@c) when done; on failure @c holds nothing to free.
 */
int cfg_load(const char *path, struct cfg *c, char err[CFG_ERR_MAX]);

/**
 * As cfg_load, but the zoo.cfg text is @buf/@len (named @name in messages)
 * and the -D flags are the strings @jvmflags[0..n) (NULL: none); nothing is
 * read from the environment. Used by tests and the fuzz target.
 */
int cfg_parse_buffer(const char *name, const char *buf, size_t len, const char *const *jvmflags,
		     unsigned n, struct cfg *c, char err[CFG_ERR_MAX]);

/* Release what cfg_load/cfg_parse_buffer allocated; @c may be reused after. */
void cfg_free(struct cfg *c);

/* The property @key, or NULL. */
const char *cfg_prop(const struct cfg *c, const char *key);

/* Whether the four-letter word @word may run (4lw.commands.whitelist). */
bool cfg_4lw_allowed(const struct cfg *c, const char word[4]);

/* The JAAS password of @user, or NULL. */
const char *cfg_user_password(const struct cfg *c, const char *user);

/* The server.N entry for @id, or NULL. */
const struct cfg_server *cfg_server_find(const struct cfg *c, uint64_t id);

/* "host:quorumPort:electionPort:type[;clientHost:clientPort]" as the conf 4lw
 * prints it. Return the length or -ENOSPC. */
int cfg_server_str(const struct cfg_server *s, char *buf, size_t cap);

/* A dynamic config (/zookeeper/config, zoo.cfg.dynamic.<version>): server.N
 * lines and version=<hex>. At most @max servers into @out. Return 0 (@count,
 * @version: 0 when absent), -EINVAL (message in @err), -ENOMEM. */
int cfg_parse_dynamic(const char *text, size_t len, struct cfg_server *out, unsigned max,
		      unsigned *count, uint64_t *version, char err[CFG_ERR_MAX]);

/* Write @c as zoo.cfg lines (every effective key, then properties) to @f. */
void cfg_dump(const struct cfg *c, FILE *f);

/**
 * Split @s like a POSIX shell word list (whitespace; '...' literal; "..." with
 * \" \\ \$ \` escapes; \x outside quotes) into NUL-separated words in @out.
 * Return the number of words, -EINVAL (unterminated quote) or -E2BIG.
 */
int cfg_split_words(const char *s, char *out, size_t cap);

#endif
