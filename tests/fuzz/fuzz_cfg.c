/* tests/fuzz/fuzz_cfg.c: arbitrary bytes as a zoo.cfg, as a JAAS file and as a
 * JVMFLAGS string. Nothing may crash, leak or read out of bounds; a config that
 * parses must satisfy cfg's invariants, and the conf/srvr/mntr text built from
 * it must fit its own length. cfg.c and admin.c are compiled in so the fuzzer
 * instruments them. */
#include "mgmt/admin.c"
#include "mgmt/cfg.c"

static struct cfg C;

static void check_cfg(const struct cfg *c)
{
	TN_ASSERT(c->tick_ms > 0);
	TN_ASSERT(c->session_timeout_ms_min <= c->session_timeout_ms_max);
	TN_ASSERT(c->data_dir[0] && c->data_log_dir[0]);
	TN_ASSERT(c->client_port > 0 && c->client_port <= 65535);
	TN_ASSERT(c->snap_retain_count >= 3);
	TN_ASSERT(c->server_count <= CFG_SERVERS_MAX && c->prop_count <= CFG_PROPS_MAX);
	for (unsigned i = 0; i < c->server_count; i++)
		TN_ASSERT(cfg_server_find(c, c->servers[i].id) == &c->servers[i]); /* ids unique */
	struct adm_info in = { .cfg = c, .serving = true, .mode = "standalone" };
	static const char *const w[] = { "conf", "srvr", "mntr", "isro" };
	for (unsigned i = 0; i < TN_ARRAY_LEN(w); i++) {
		struct adm_out o;
		adm_out_init(&o);
		int rc = adm_4lw(w[i], &in, &o);
		TN_ASSERT(rc >= 0 && (size_t)rc == o.len && (!o.buf || strlen(o.buf) == o.len));
		adm_out_free(&o);
	}
}

/* A standalone config dumps to text that parses back to the same values. */
static void check_round_trip(const struct cfg *c)
{
	static struct cfg c2;
	char err[CFG_ERR_MAX], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	cfg_dump(c, f);
	fclose(f);
	int rc = cfg_parse_buffer("dump", text, len, NULL, 0, &c2, err);
	if (rc != 0)
		fprintf(stderr, "round trip: %s\n--\n%s--\n", err, text);
	TN_ASSERT(rc == 0);
	TN_ASSERT(c2.tick_ms == c->tick_ms && c2.client_port == c->client_port);
	TN_ASSERT(!strcmp(c2.data_dir, c->data_dir) && !strcmp(c2.data_log_dir, c->data_log_dir));
	TN_ASSERT(c2.session_timeout_ms_min == c->session_timeout_ms_min &&
		  c2.session_timeout_ms_max == c->session_timeout_ms_max);
	TN_ASSERT(c2.snap_count == c->snap_count && c2.jute_maxbuffer == c->jute_maxbuffer);
	TN_ASSERT(c2.pre_alloc_kib == c->pre_alloc_kib && c2.force_sync == c->force_sync);
	TN_ASSERT(c2.workers == c->workers && c2.polling == c->polling);
	TN_ASSERT(c2.wl_all == c->wl_all && c2.readonly_mode == c->readonly_mode);
	cfg_free(&c2);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERR_MAX];
	tn_log_set_level(TN_LOG_ERROR);
	if (cfg_parse_buffer("fuzz.cfg", (const char *)data, size, NULL, 0, &C, err) == 0) {
		check_cfg(&C);
		if (C.server_count == 0 && !C.jaas_path[0])
			check_round_trip(&C);
		cfg_free(&C);
	} else {
		TN_ASSERT(err[0] != '\0' && C.prop_count == 0); /* an error always says why */
	}
	/* the same bytes as a JAAS file and as a -D flag string */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct pctx p;
	cfg_defaults(&C);
	p = (struct pctx){ .c = &C, .err = err, .min_to = -1, .max_to = -1 };
	(void)jaas_parse(&p, s, size, "Server");
	TN_ASSERT(C.user_count <= CFG_USERS_MAX);
	cfg_free(&C);
	char *words = malloc(size + 1);
	if (words) {
		int n = cfg_split_words(s, words, size + 1);
		TN_ASSERT(n == -EINVAL || n == -E2BIG || (n >= 0 && n <= (int)size));
		free(words);
	}
	free(s);
	return 0;
}
