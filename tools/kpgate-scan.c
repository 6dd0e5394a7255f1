/* kpgate-scan — a scanner station over ordinary UDP sockets.
 *
 * Reads a signed certificate (.kpc, as kpgate-authority issues it), adds
 * the station's measurements, sends one scan request to a gateway and
 * prints the decision and every verdict in words (or JSON with --json).
 * The exit status says the decision, so scripts can act on it. With the
 * station's key (--hmac-key or --key-file) the request carries an
 * HMAC-SHA-256 and only answers whose HMAC verifies are believed. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kpg_limits.h"
#include "kpg_request_build.h"
#include "kpg_station.h"
#include "kpg_verdict.h"
#include "kpgate.pb-c.h"

enum exit_code {
	EXIT_ACCEPT = 0,
	EXIT_REFER = 1,
	EXIT_REJECT = 2,
	EXIT_ERROR_ANSWER = 3,
	EXIT_NO_ANSWER = 4,
	EXIT_LOCAL = 5,         /* could not build or send the request */
	EXIT_USAGE = 64,
};

struct opts {
	const char *host;
	const char *port;
	const char *cert_path;
	const char *raw_path;
	const char *write_path;
	const char *station;
	uint64_t request_id;
	int have_request_id;
	int64_t scan_time;
	int have_scan_time;
	struct kpg_scan scan;
	int timeout_ms;
	int tries;
	int json;
	bool has_key;
	uint8_t key[KPG_HMAC_KEY_LEN];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kpgate-scan [options] CERT.kpc\n"
		"       kpgate-scan [options] --raw DATAGRAM\n"
		"Sends one scan request to a kpgate gateway and prints its answer.\n\n"
		"  -H, --host HOST          gateway address (default 127.0.0.1)\n"
		"  -p, --port PORT          UDP port (default %d)\n"
		"  -s, --station ID         station id (default \"station-1\")\n"
		"  -i, --request-id N       request id (default: random)\n"
		"  -t, --scan-time SECONDS  station clock, Unix seconds (default: now)\n"
		"      --parcels N          parcels counted at the station\n"
		"      --mass-mg N          gross mass weighed, milligrams\n"
		"      --seal TEXT          seal number read\n"
		"      --timeout MS         wait per try (default 1000)\n"
		"      --tries N            sends before giving up (default 3)\n"
		"      --raw FILE           send FILE's bytes as the datagram, unchanged\n"
		"      --write-request FILE write the datagram to FILE and send nothing\n"
		"      --hmac-key HEX       the station's key (64 hex digits): sign the\n"
		"                           request, believe only answers it verifies\n"
		"      --key-file FILE      the same, read from FILE\n"
		"      --json               print the answer as JSON\n\n"
		"Exit status: 0 accept, 1 refer, 2 reject, 3 error answer (or, with a\n"
		"key, only answers whose HMAC failed), 4 no answer,\n"
		"5 local failure, 64 usage.\n",
		KPG_UDP_PORT_DEFAULT);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (*s == '-' || *s == '\0')
		return -EINVAL;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_PARCELS = 256, O_MASS, O_SEAL, O_TIMEOUT, O_TRIES, O_RAW, O_WRITE, O_JSON,
	       O_HMAC_KEY, O_KEY_FILE };
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "station", required_argument, NULL, 's' },
		{ "request-id", required_argument, NULL, 'i' },
		{ "scan-time", required_argument, NULL, 't' },
		{ "parcels", required_argument, NULL, O_PARCELS },
		{ "mass-mg", required_argument, NULL, O_MASS },
		{ "seal", required_argument, NULL, O_SEAL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tries", required_argument, NULL, O_TRIES },
		{ "raw", required_argument, NULL, O_RAW },
		{ "write-request", required_argument, NULL, O_WRITE },
		{ "json", no_argument, NULL, O_JSON },
		{ "hmac-key", required_argument, NULL, O_HMAC_KEY },
		{ "key-file", required_argument, NULL, O_KEY_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	o->host = "127.0.0.1";
	o->port = NULL;
	o->station = "station-1";
	o->timeout_ms = 1000;
	o->tries = 3;
	while ((c = getopt_long(argc, argv, "H:p:s:i:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': o->host = optarg; break;
		case 'p': o->port = optarg; break;
		case 's': o->station = optarg; break;
		case 'i':
			if (parse_u64(optarg, &o->request_id) < 0)
				goto bad;
			o->have_request_id = 1;
			break;
		case 't':
			o->scan_time = strtoll(optarg, NULL, 10);
			o->have_scan_time = 1;
			break;
		case O_PARCELS:
			if (parse_u64(optarg, &v) < 0 || v > UINT32_MAX)
				goto bad;
			o->scan.has_parcel_count = 1;
			o->scan.parcel_count = (uint32_t)v;
			break;
		case O_MASS:
			if (parse_u64(optarg, &v) < 0)
				goto bad;
			o->scan.has_gross_mass = 1;
			o->scan.gross_mass_mg = v;
			break;
		case O_SEAL: o->scan.seal_number = optarg; break;
		case O_TIMEOUT:
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 60000)
				goto bad;
			o->timeout_ms = (int)v;
			break;
		case O_TRIES:
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 100)
				goto bad;
			o->tries = (int)v;
			break;
		case O_RAW: o->raw_path = optarg; break;
		case O_WRITE: o->write_path = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_HMAC_KEY:
			if (kpg_hmac_key_parse(optarg, o->key) < 0)
				goto bad;
			o->has_key = true;
			break;
		case O_KEY_FILE: {
			char err[512];

			if (kpg_hmac_key_read(optarg, o->key, err, sizeof(err)) < 0) {
				fprintf(stderr, "kpgate-scan: %s\n", err);
				return -1;
			}
			o->has_key = true;
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (o->raw_path == NULL) {
		if (optind != argc - 1) {
			usage(stderr);
			return -1;
		}
		o->cert_path = argv[optind];
	} else if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "kpgate-scan: bad value for option: %s\n", optarg);
	return -1;
}

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "kpgate-scan: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, cap, f);
	if (ferror(f) || (n == cap && fgetc(f) != EOF)) {
		fprintf(stderr, "kpgate-scan: %s: unreadable or over %zu bytes\n", path, cap - 1);
		fclose(f);
		return -1;
	}
	fclose(f);
	*len = n;
	return 0;
}

static int open_socket(const struct opts *o, struct sockaddr_storage *to, socklen_t *tolen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	char port[16];
	int fd, rc;

	snprintf(port, sizeof(port), "%s", o->port ? o->port : "7102");
	rc = getaddrinfo(o->host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "kpgate-scan: %s: %s\n", o->host, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd >= 0) {
		memcpy(to, ai->ai_addr, ai->ai_addrlen);
		*tolen = ai->ai_addrlen;
		/* connect() so only the gateway's datagrams are read back. */
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			fprintf(stderr, "kpgate-scan: connect %s: %s\n", o->host, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* Answers to our request that a key did not let us believe. */
struct unbelieved {
	unsigned bad_hmac;               /* field 15 present, did not verify */
	unsigned unsigned_n;             /* no field 15 */
	int error;                       /* what the last unsigned one said */
};

/* Sends and waits for the answer carrying our request id; stray or
 * malformed datagrams are ignored, and with a key so are answers whose
 * HMAC does not verify (a forger must not end the wait). Returns the
 * answer length or -1. */
static int exchange(int fd, const struct opts *o, const struct kpg_hmac *mac,
		    const uint8_t *req, size_t len, uint64_t request_id,
		    uint8_t *ans, size_t cap, struct unbelieved *u)
{
	for (int t = 0; t < o->tries; t++) {
		struct timespec start, now;

		if (send(fd, req, len, 0) < 0) {
			fprintf(stderr, "kpgate-scan: send: %s\n", strerror(errno));
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			long waited;
			ssize_t n;

			clock_gettime(CLOCK_MONOTONIC, &now);
			waited = (now.tv_sec - start.tv_sec) * 1000 +
				 (now.tv_nsec - start.tv_nsec) / 1000000;
			if (waited >= o->timeout_ms)
				break;
			if (poll(&p, 1, (int)(o->timeout_ms - waited)) <= 0)
				break;
			n = recv(fd, ans, cap, 0);
			if (n < (ssize_t)KPG_HDR_LEN || ans[0] != KPG_HDR_MAGIC0 ||
			    ans[1] != KPG_HDR_MAGIC1 || ans[3] != KPG_MSG_RESPONSE)
				continue;
			Kpgate__ScanResponse *r = kpgate__scan_response__unpack(
				NULL, (size_t)n - KPG_HDR_LEN, ans + KPG_HDR_LEN);
			if (r == NULL)
				continue;
			/* An answer to a request we could not parse carries id 0. */
			int ours = r->request_id == request_id || r->request_id == 0;
			int error = r->has_error ? (int)r->error : 0;
			kpgate__scan_response__free_unpacked(r, NULL);
			if (!ours)
				continue;
			if (mac) {
				int v = kpg_hmac_check_response(mac, ans, (size_t)n);

				if (v == 0) {
					u->unsigned_n++;
					u->error = error;
				} else if (v < 0) {
					u->bad_hmac++;
				}
				if (v != 1)
					continue;
			}
			return (int)n;
		}
	}
	return -1;
}

static int exit_for(const Kpgate__ScanResponse *r)
{
	if (r->has_error && r->error != KPGATE__ERROR_CODE__ERROR_NONE)
		return EXIT_ERROR_ANSWER;
	switch (r->decision) {
	case KPGATE__DECISION__ACCEPT: return EXIT_ACCEPT;
	case KPGATE__DECISION__REFER: return EXIT_REFER;
	case KPGATE__DECISION__REJECT: return EXIT_REJECT;
	default: return EXIT_ERROR_ANSWER;
	}
}

static void print_text(const Kpgate__ScanResponse *r)
{
	static const char *const shout[] = { "NO DECISION", "ACCEPT", "REFER FOR INSPECTION", "REJECT" };
	unsigned d = (unsigned)r->decision < 4 ? (unsigned)r->decision : 0;

	if (r->has_error && r->error != KPGATE__ERROR_CODE__ERROR_NONE)
		printf("ERROR: %s (request %llu, trust list version %llu)\n",
		       kpg_error_name((enum kpg_error)r->error),
		       (unsigned long long)r->request_id,
		       (unsigned long long)r->trust_list_version);
	else
		printf("%s (request %llu, trust list version %llu)\n", shout[d],
		       (unsigned long long)r->request_id,
		       (unsigned long long)r->trust_list_version);
	for (size_t i = 0; i < r->n_verdicts; i++) {
		const Kpgate__Verdict *v = r->verdicts[i];

		printf("  %-12s %-7s %-26s %s\n", v->check,
		       kpg_decision_name((enum kpg_decision)v->decision),
		       kpg_reason_name(v->reason),
		       v->detail ? v->detail : "");
	}
}

static void print_json(const Kpgate__ScanResponse *r)
{
	json_t *o = json_object(), *vs = json_array();

	json_object_set_new(o, "request_id", json_integer((json_int_t)r->request_id));
	json_object_set_new(o, "decision",
			    json_string(kpg_decision_name((enum kpg_decision)r->decision)));
	json_object_set_new(o, "trust_list_version",
			    json_integer((json_int_t)r->trust_list_version));
	json_object_set_new(o, "error", r->has_error && r->error
			    ? json_string(kpg_error_name((enum kpg_error)r->error)) : json_null());
	for (size_t i = 0; i < r->n_verdicts; i++) {
		const Kpgate__Verdict *v = r->verdicts[i];
		json_t *j = json_object();

		json_object_set_new(j, "check", json_string(v->check));
		json_object_set_new(j, "decision",
				    json_string(kpg_decision_name((enum kpg_decision)v->decision)));
		json_object_set_new(j, "reason", json_integer(v->reason));
		json_object_set_new(j, "reason_name", json_string(kpg_reason_name(v->reason)));
		json_object_set_new(j, "detail", json_string(v->detail ? v->detail : ""));
		json_array_append_new(vs, j);
	}
	json_object_set_new(o, "verdicts", vs);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

int main(int argc, char **argv)
{
	static uint8_t cert[KPG_DATAGRAM_MAX + 1], req[KPG_DATAGRAM_MAX + 1],
		ans[KPG_DATAGRAM_MAX + 512];
	struct sockaddr_storage to;
	socklen_t tolen;
	struct opts o = { 0 };
	struct kpg_hmac mac;
	struct unbelieved u = { 0 };
	size_t cert_len = 0, req_len = 0;
	int fd, n, rc;

	if (parse_args(argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (!o.have_request_id &&
	    getrandom(&o.request_id, sizeof(o.request_id), 0) != sizeof(o.request_id))
		o.request_id = (uint64_t)time(NULL) * 2654435761u;
	o.request_id |= 1;      /* never 0: 0 marks answers to unreadable requests */

	if (o.raw_path) {
		if (read_file(o.raw_path, req, sizeof(req), &req_len) < 0)
			return EXIT_LOCAL;
	} else {
		if (read_file(o.cert_path, cert, sizeof(cert), &cert_len) < 0)
			return EXIT_LOCAL;
		o.scan.request_id = o.request_id;
		o.scan.station_id = o.station;
		o.scan.scan_time = o.have_scan_time ? o.scan_time : (int64_t)time(NULL);
		o.scan.signed_cert = cert;
		o.scan.signed_cert_len = cert_len;
		n = kpg_request_build(&o.scan, req, KPG_DATAGRAM_MAX);
		if (n < 0) {
			fprintf(stderr, "kpgate-scan: %s: %s\n", o.cert_path,
				n == -EMSGSIZE ? "request would exceed one datagram"
					       : "not a signed certificate");
			return EXIT_LOCAL;
		}
		req_len = (size_t)n;
	}
	if (o.has_key && !o.raw_path) {
		kpg_hmac_init(&mac, o.key, sizeof(o.key));
		n = kpg_hmac_sign_request(&mac, req, req_len, KPG_DATAGRAM_MAX);
		if (n < 0) {
			fprintf(stderr, "kpgate-scan: %s: no room left for the HMAC "
				"in one datagram\n", o.cert_path);
			return EXIT_LOCAL;
		}
		req_len = (size_t)n;
	} else if (o.has_key) {
		kpg_hmac_init(&mac, o.key, sizeof(o.key));   /* --raw: as given */
	}
	if (o.write_path) {
		FILE *f = fopen(o.write_path, "wb");

		if (f == NULL || fwrite(req, 1, req_len, f) != req_len || fclose(f) != 0) {
			fprintf(stderr, "kpgate-scan: %s: %s\n", o.write_path, strerror(errno));
			return EXIT_LOCAL;
		}
		return 0;
	}

	fd = open_socket(&o, &to, &tolen);
	if (fd < 0)
		return EXIT_LOCAL;
	n = exchange(fd, &o, o.has_key ? &mac : NULL, req, req_len, o.request_id,
		     ans, sizeof(ans), &u);
	close(fd);
	if (n < 0 && (u.bad_hmac || u.unsigned_n)) {
		char why[160];

		if (u.bad_hmac)
			snprintf(why, sizeof(why), "%u answer(s) whose HMAC did not "
				 "verify with the station key", u.bad_hmac);
		else
			snprintf(why, sizeof(why), "an answer without HMAC (it said: %s)",
				 u.error ? kpg_error_name((enum kpg_error)u.error)
					 : "a decision");
		if (o.json)
			printf("{\"request_id\": %llu, \"decision\": null, \"error\": "
			       "\"answer_not_authenticated\", \"detail\": \"%s\"}\n",
			       (unsigned long long)o.request_id, why);
		else
			printf("REFUSED: %s\n", why);
		fprintf(stderr, "kpgate-scan: answer refused: %s\n", why);
		return EXIT_ERROR_ANSWER;
	}
	if (n < 0) {
		if (o.json)
			printf("{\"request_id\": %llu, \"decision\": null, \"error\": \"no_answer\"}\n",
			       (unsigned long long)o.request_id);
		else
			printf("NO ANSWER from %s after %d tries\n", o.host, o.tries);
		return EXIT_NO_ANSWER;
	}
	Kpgate__ScanResponse *r = kpgate__scan_response__unpack(NULL, (size_t)n - KPG_HDR_LEN,
								 ans + KPG_HDR_LEN);
	if (o.json)
		print_json(r);
	else
		print_text(r);
	rc = exit_for(r);
	kpgate__scan_response__free_unpacked(r, NULL);
	return rc;
}
