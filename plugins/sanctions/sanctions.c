/* sanctions.c — kpgate plugin "sanctions": parties on sanctions lists.
 *
 * The exporter, the importer and the issuing authority are matched against
 * configured lists by identifier (exact, surrounding blanks ignored) and by
 * normalised name. Lists come from files and inline entries; configure
 * turns them into immutable hash sets of identifiers and normalised names,
 * so evaluate normalises a certificate's names into a stack buffer and
 * looks them up without allocating.
 *
 * Entry (file line or inline string):
 *   [reject|refer] id:<identifier>   or   [reject|refer] name:<name>
 * optionally followed by "# comment" (a '#' after a blank); the decision
 * word overrides the list's `decision` for that entry.
 *
 * Name normalisation, the same for lists and certificates:
 *  - UTF-8 letters of Latin-1 Supplement and Latin Extended-A folded to
 *    ASCII (e-acute -> e, sharp s -> ss, AE -> ae, L-stroke -> l, OE -> oe,
 *    thorn -> th), combining accents (U+0300..U+036F) dropped, ASCII
 *    letters case-folded; other scripts kept as they are (no
 *    transliteration);
 *  - '.' and apostrophes (' U+2018 U+2019) dropped, so "S.A." is "sa";
 *    any other punctuation, symbol or blank run is one space;
 *  - legal forms cut from the end (Ltd, LLC, GmbH, NV, "Pty Ltd", ...) and
 *    those also written first from the start (OOO, AO, PJSC, "Joint Stock
 *    Company", ...), longest first, repeatedly, never the last word left.
 *
 * Reason codes (check "sanctions"):
 *   1500 parties_clear          accept: no party on any list
 *   1501 sanctioned_identifier  reject (or refer, per entry): a party's
 *                               identifier is listed
 *   1502 sanctioned_name        reject (or refer): a party's normalised name
 *                               is listed
 * Several matches: the most severe; on a tie the exporter, then importer,
 * then authority, identifier before name, the earliest list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "policy_conf.h"

enum {
	SANCTIONS_CLEAR = 1500,
	SANCTIONS_IDENTIFIER = 1501,
	SANCTIONS_NAME = 1502,
};

/* A normalised name is never longer than its UTF-8 source, and the wire
 * caps a certificate string at 256 bytes: twice that never overflows. */
#define SANCTIONS_NORM_MAX   512u
#define SANCTIONS_LIST_NAME  32u     /* list name, bytes incl. NUL */
#define SANCTIONS_NONE       UINT32_MAX

enum sanctions_role { ROLE_EXPORTER, ROLE_IMPORTER, ROLE_AUTHORITY, ROLE__COUNT };
static const char *const sanctions_roles[ROLE__COUNT] = {
	"exporter", "importer", "authority"
};

enum sanctions_kind { KIND_ID, KIND_NAME };

/* ---- an immutable hash set over an array of keys ------------------------ */

struct sset_slot {
	uint32_t idx1;                   /* key index + 1; 0: empty */
	uint32_t tag;                    /* high hash bits: most misses skip memcmp */
};

struct sset {
	uint32_t mask;
	struct sset_slot *slots;
	const struct kpg_str *keys;
};

/* Eight bytes a step, each step a multiply and a shift (byte-wise FNV
 * cost most of a lookup). Keys come from the operator's config, so no
 * defence against chosen collisions is needed. */
static uint64_t sset_hash(const char *p, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (n) {
		w = 0;
		for (uint32_t i = 0; i < n; i++)
			w |= (uint64_t)(unsigned char)p[i] << (8 * i);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

/* Room for n keys at most half full, so probes stay short. */
static int sset_init(struct sset *s, const struct kpg_str *keys, uint32_t n)
{
	uint32_t cap = 16;

	while (cap < 2 * (uint64_t)n)
		cap *= 2;
	s->slots = calloc(cap, sizeof(*s->slots));
	s->mask = cap - 1;
	s->keys = keys;
	return s->slots ? 0 : -ENOMEM;
}

static int64_t sset_find(const struct sset *s, const char *p, uint32_t n)
{
	uint64_t h = sset_hash(p, n);
	uint32_t tag = (uint32_t)(h >> 32);

	for (uint32_t i = (uint32_t)h & s->mask;; i = (i + 1) & s->mask) {
		const struct sset_slot *sl = &s->slots[i];
		const struct kpg_str *k;

		if (sl->idx1 == 0)
			return -1;
		k = &s->keys[sl->idx1 - 1];
		if (sl->tag == tag && k->len == n && memcmp(k->p, p, n) == 0)
			return sl->idx1 - 1;
	}
}

/* Adds key i: -1, or the index of an equal key already there. */
static int64_t sset_add(struct sset *s, uint32_t i)
{
	const struct kpg_str *k = &s->keys[i];
	int64_t old = sset_find(s, k->p, k->len);
	uint64_t h = sset_hash(k->p, k->len);
	uint32_t j = (uint32_t)h & s->mask;

	if (old >= 0)
		return old;
	while (s->slots[j].idx1)
		j = (j + 1) & s->mask;
	s->slots[j] = (struct sset_slot){ i + 1, (uint32_t)(h >> 32) };
	return -1;
}

/* ---- legal forms -------------------------------------------------------- */

/* A forms-set key's flags. A word that ends (starts) phrases also keeps
 * the most words of those phrases, so stripping tries no longer phrase. */
enum {
	FORM_END = 1,                    /* the phrase is cut from the end */
	FORM_START = 2,                  /* ... and from the start */
	FORM_LAST_WORD = 4,              /* the word ends some FORM_END phrase */
	FORM_FIRST_WORD = 8,             /* the word starts some FORM_START phrase */
	FORM_TAIL_SHIFT = 4,             /* 2 bits: words of its longest such - 1 */
	FORM_HEAD_SHIFT = 6,
};
#define FORM_WORDS_MAX 4u                /* 2 bits each, above */

/* Normalised spellings ("S.A." is "sa" by then). */
static const struct {
	const char *phrase;
	uint8_t where;
} sanctions_forms[] = {
	{ "ltd", FORM_END }, { "limited", FORM_END }, { "private limited", FORM_END },
	{ "llc", FORM_END }, { "fz llc", FORM_END }, { "llp", FORM_END },
	{ "limited liability partnership", FORM_END }, { "lp", FORM_END },
	{ "plc", FORM_END }, { "public limited company", FORM_END },
	{ "inc", FORM_END }, { "incorporated", FORM_END }, { "corp", FORM_END },
	{ "corporation", FORM_END }, { "co", FORM_END }, { "company", FORM_END },
	{ "nv", FORM_END }, { "bv", FORM_END }, { "bvba", FORM_END },
	{ "sa", FORM_END }, { "sa de cv", FORM_END }, { "sas", FORM_END },
	{ "sarl", FORM_END }, { "sprl", FORM_END }, { "srl", FORM_END },
	{ "spa", FORM_END }, { "sl", FORM_END }, { "ltda", FORM_END },
	{ "gmbh", FORM_END }, { "ag", FORM_END }, { "kg", FORM_END },
	{ "se", FORM_END }, { "ab", FORM_END }, { "as", FORM_END },
	{ "asa", FORM_END }, { "oy", FORM_END }, { "oyj", FORM_END },
	{ "aps", FORM_END }, { "kk", FORM_END }, { "pty", FORM_END },
	{ "pte", FORM_END }, { "pvt", FORM_END }, { "bhd", FORM_END },
	{ "sdn bhd", FORM_END }, { "dmcc", FORM_END }, { "fze", FORM_END },
	{ "fzco", FORM_END }, { "fzc", FORM_END },
	/* Russian and Baltic forms, as often written before the name */
	{ "ooo", FORM_END | FORM_START }, { "ao", FORM_END | FORM_START },
	{ "zao", FORM_END | FORM_START }, { "oao", FORM_END | FORM_START },
	{ "pao", FORM_END | FORM_START }, { "jsc", FORM_END | FORM_START },
	{ "pjsc", FORM_END | FORM_START }, { "ojsc", FORM_END | FORM_START },
	{ "cjsc", FORM_END | FORM_START },
	{ "joint stock company", FORM_END | FORM_START },
	{ "public joint stock company", FORM_END | FORM_START },
	{ "closed joint stock company", FORM_END | FORM_START },
	{ "open joint stock company", FORM_END | FORM_START },
	{ "limited liability company", FORM_END | FORM_START },
	{ "uab", FORM_END | FORM_START }, { "sia", FORM_END | FORM_START },
	{ "pt", FORM_START },
};
#define SANCTIONS_N_FORMS (sizeof(sanctions_forms) / sizeof(sanctions_forms[0]))

/* ---- state -------------------------------------------------------------- */

struct sanctions_list {
	char name[SANCTIONS_LIST_NAME];
	uint8_t roles;                   /* 1 << enum sanctions_role */
};

struct sanctions_entry {
	uint32_t off, len;               /* key in blob */
	uint32_t next;                   /* an entry of the same key, or NONE */
	uint16_t list;
	uint8_t kind;                    /* enum sanctions_kind */
	uint8_t decision;                /* KPG_REJECT or KPG_REFER */
};

struct sanctions_state {
	uint8_t id_roles, name_roles;    /* roles some list has ids, names for */
	uint32_t n_lists;
	struct sanctions_list *lists;
	uint32_t n_entries;
	struct sanctions_entry *entries;
	char *blob;
	struct kpg_str *keys;            /* entry i's key, into blob */
	struct sset ids, names;
	/* ASCII byte -> lower-case letter or digit, NORM_DROP or NORM_GAP */
	uint8_t ascii[128];
	/* legal forms: phrases and their first and last words; words longer
	 * than the longest first (last) word need no lookup */
	uint32_t head_word_max, tail_word_max;
	uint32_t n_forms;
	struct kpg_str form_keys[3 * SANCTIONS_N_FORMS];
	uint8_t form_where[3 * SANCTIONS_N_FORMS];
	struct sset forms;
};

/* ---- name normalisation (both threads) ---------------------------------- */

#define FOLD(cp)       [(cp) - 0xC0]
#define FOLDS(a, b)    [(a) - 0xC0 ... (b) - 0xC0]

/* U+00C0..U+017F to ASCII; "" (the multiplication and division signs) is
 * punctuation. Latin Extended-A runs upper/lower case pairs in order. */
static const char sanctions_fold[0x180 - 0xC0][3] = {
	FOLDS(0xC0, 0xC5) = "a", FOLD(0xC6) = "ae", FOLD(0xC7) = "c",
	FOLDS(0xC8, 0xCB) = "e", FOLDS(0xCC, 0xCF) = "i", FOLD(0xD0) = "d",
	FOLD(0xD1) = "n", FOLDS(0xD2, 0xD6) = "o", FOLD(0xD8) = "o",
	FOLDS(0xD9, 0xDC) = "u", FOLD(0xDD) = "y", FOLD(0xDE) = "th",
	FOLD(0xDF) = "ss",
	FOLDS(0xE0, 0xE5) = "a", FOLD(0xE6) = "ae", FOLD(0xE7) = "c",
	FOLDS(0xE8, 0xEB) = "e", FOLDS(0xEC, 0xEF) = "i", FOLD(0xF0) = "d",
	FOLD(0xF1) = "n", FOLDS(0xF2, 0xF6) = "o", FOLD(0xF8) = "o",
	FOLDS(0xF9, 0xFC) = "u", FOLD(0xFD) = "y", FOLD(0xFE) = "th",
	FOLD(0xFF) = "y",
	FOLDS(0x100, 0x105) = "a", FOLDS(0x106, 0x10D) = "c",
	FOLDS(0x10E, 0x111) = "d", FOLDS(0x112, 0x11B) = "e",
	FOLDS(0x11C, 0x123) = "g", FOLDS(0x124, 0x127) = "h",
	FOLDS(0x128, 0x131) = "i", FOLDS(0x132, 0x133) = "ij",
	FOLDS(0x134, 0x135) = "j", FOLDS(0x136, 0x138) = "k",
	FOLDS(0x139, 0x142) = "l", FOLDS(0x143, 0x14B) = "n",
	FOLDS(0x14C, 0x151) = "o", FOLDS(0x152, 0x153) = "oe",
	FOLDS(0x154, 0x159) = "r", FOLDS(0x15A, 0x161) = "s",
	FOLDS(0x162, 0x167) = "t", FOLDS(0x168, 0x173) = "u",
	FOLDS(0x174, 0x175) = "w", FOLDS(0x176, 0x178) = "y",
	FOLDS(0x179, 0x17E) = "z", FOLD(0x17F) = "s",
};

static bool utf8_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* The code point at s (n bytes left) and its length; -1 and length 1 for
 * a malformed, overlong or surrogate sequence, which is then kept as is. */
static int32_t utf8_next(const unsigned char *s, size_t n, unsigned *len)
{
	int32_t cp;

	*len = 1;
	if (s[0] < 0x80)
		return s[0];
	if (s[0] >= 0xC2 && s[0] <= 0xDF && n >= 2 && utf8_cont(s[1])) {
		*len = 2;
		return (s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if (s[0] >= 0xE0 && s[0] <= 0xEF && n >= 3 && utf8_cont(s[1]) &&
	    utf8_cont(s[2])) {
		cp = (s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
			*len = 3;
			return cp;
		}
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4 && n >= 4 && utf8_cont(s[1]) &&
	    utf8_cont(s[2]) && utf8_cont(s[3])) {
		cp = (s[0] & 0x07) << 18 | (s[1] & 0x3F) << 12 |
		     (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
		if (cp >= 0x10000 && cp <= 0x10FFFF) {
			*len = 4;
			return cp;
		}
	}
	return -1;
}

enum { NORM_DROP = 0, NORM_GAP = 1 };   /* ascii[] values, not characters */

/* What a code point at or above U+0080 becomes: 0 dropped, 1 separator,
 * 2 text (in *out). */
static int norm_class(int32_t cp, const unsigned char *raw, unsigned len,
		      const char **out, unsigned *out_len)
{
	if (cp < 0) {
		*out = (const char *)raw;
		*out_len = len;
		return 2;
	}
	if (cp >= 0xC0 && cp < 0x180) {
		*out = sanctions_fold[cp - 0xC0];
		*out_len = (*out)[0] ? ((*out)[1] ? 2u : 1u) : 0u;
		return *out_len ? 2 : 1;
	}
	if (cp < 0xC0)
		return 1;                /* C1 controls, NBSP, Latin-1 symbols */
	if (cp >= 0x300 && cp <= 0x36F)
		return 0;                /* combining accents of decomposed text */
	if (cp == 0x2018 || cp == 0x2019)
		return 0;                /* typographic apostrophes */
	if ((cp >= 0x2000 && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF)
		return 1;                /* general punctuation and spaces */
	*out = (const char *)raw;
	*out_len = len;
	return 2;
}

/* Start of the last k words of b[lo..hi) when there are more than k. */
static int64_t norm_tail(const char *b, uint32_t lo, uint32_t hi, unsigned k)
{
	for (uint32_t i = hi; i > lo; i--)
		if (b[i - 1] == ' ' && --k == 0)
			return i;
	return -1;
}

/* End of the first k words of b[lo..hi) when there are more than k. */
static int64_t norm_head(const char *b, uint32_t lo, uint32_t hi, unsigned k)
{
	for (uint32_t i = lo; i < hi; i++)
		if (b[i] == ' ' && --k == 0)
			return i;
	return -1;
}

static int norm_form(const struct sanctions_state *s, const char *p, uint32_t n)
{
	int64_t f = sset_find(&s->forms, p, n);

	return f >= 0 ? s->form_where[f] : 0;
}

/* Cuts legal forms from both ends of b[*lo..*hi), longest phrase first;
 * one lookup per end when its word ends (starts) no phrase. */
static void norm_strip(const struct sanctions_state *s, const char *b,
		       uint32_t *lo, uint32_t *hi)
{
	int64_t at, at_k = -1;
	unsigned k;
	int w;

	while ((at = norm_tail(b, *lo, *hi, 1)) >= 0 &&
	       *hi - (uint32_t)at <= s->tail_word_max &&
	       ((w = norm_form(s, b + at, *hi - (uint32_t)at)) & FORM_LAST_WORD)) {
		for (k = ((unsigned)w >> FORM_TAIL_SHIFT & 3u) + 1; k >= 2; k--) {
			at_k = norm_tail(b, *lo, *hi, k);
			if (at_k >= 0 && (norm_form(s, b + at_k, *hi - (uint32_t)at_k) & FORM_END))
				break;
		}
		if (k < 2 && !(w & FORM_END))
			break;
		*hi = (uint32_t)(k >= 2 ? at_k : at) - 1;
	}
	while ((at = norm_head(b, *lo, *hi, 1)) >= 0 &&
	       (uint32_t)at - *lo <= s->head_word_max &&
	       ((w = norm_form(s, b + *lo, (uint32_t)at - *lo)) & FORM_FIRST_WORD)) {
		for (k = ((unsigned)w >> FORM_HEAD_SHIFT & 3u) + 1; k >= 2; k--) {
			at_k = norm_head(b, *lo, *hi, k);
			if (at_k >= 0 && (norm_form(s, b + *lo, (uint32_t)at_k - *lo) & FORM_START))
				break;
		}
		if (k < 2 && !(w & FORM_START))
			break;
		*lo = (uint32_t)(k >= 2 ? at_k : at) + 1;
	}
}

/* The matching form of name in[0..n) at buf + *lo, *len bytes (0: nothing
 * to match); -1 when it does not fit cap, so no listed name can be it. */
static int sanctions_normalise(const struct sanctions_state *s, const char *in,
			       size_t n, char *buf, uint32_t cap, uint32_t *lo,
			       uint32_t *len)
{
	const unsigned char *u = (const unsigned char *)in;
	uint32_t out = 0;                /* locals, not a struct: kept in registers */
	bool gap = false;                /* a separator is pending */
	size_t i = 0;

	/* Room is checked for a space too, so "full" may come a byte early:
	 * such a name is still longer than any listed one. */
	while (i < n) {
		const char *text;
		unsigned l = 1, tl = 0;
		int cls;

		/* ASCII, nearly every byte of nearly every name: a table */
		if (u[i] < 0x80) {
			unsigned char c = s->ascii[u[i++]];

			if (c <= NORM_GAP) {
				gap |= c == NORM_GAP;
				continue;
			}
			if (out + 2 > cap)
				return -1;
			if (gap && out)
				buf[out++] = ' ';
			gap = false;
			buf[out++] = (char)c;
			continue;
		}
		cls = norm_class(utf8_next(u + i, n - i, &l), u + i, l, &text, &tl);
		i += l;
		if (cls != 2) {
			gap |= cls == 1;
			continue;
		}
		if (tl + 1 > cap - out)
			return -1;
		if (gap && out)
			buf[out++] = ' ';
		gap = false;
		memcpy(buf + out, text, tl);
		out += tl;
	}
	*lo = 0;
	if (out)
		norm_strip(s, buf, lo, &out);
	*len = out - *lo;
	return 0;
}

/* ---- configure (control thread) ----------------------------------------- */

static unsigned form_max(uint8_t a, uint8_t b, unsigned shift)
{
	unsigned x = a >> shift & 3u, y = b >> shift & 3u;

	return (x > y ? x : y) << shift;
}

/* Flags of two phrases sharing a key: both flags, the longer lengths. */
static uint8_t form_merge(uint8_t a, uint8_t b)
{
	return (uint8_t)(((a | b) & 0x0Fu) | form_max(a, b, FORM_TAIL_SHIFT) |
			 form_max(a, b, FORM_HEAD_SHIFT));
}

/* Letters and digits are kept, lower-cased; '.' and '\'' dropped, so
 * "S.A." is "sa"; everything else separates words. */
static void sanctions_ascii_build(struct sanctions_state *s)
{
	for (unsigned c = 0; c < 128; c++) {
		if (c >= 'A' && c <= 'Z')
			s->ascii[c] = (uint8_t)(c + ('a' - 'A'));
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			s->ascii[c] = (uint8_t)c;
		else
			s->ascii[c] = c == '.' || c == '\'' ? NORM_DROP : NORM_GAP;
	}
}

/* Each phrase, and its first and last words, once in the forms set. */
static int sanctions_forms_build(struct sanctions_state *s)
{
	struct kpg_str w[3];
	uint8_t f[3];
	int64_t old;

	sanctions_ascii_build(s);
	if (sset_init(&s->forms, s->form_keys, 3 * SANCTIONS_N_FORMS) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < SANCTIONS_N_FORMS; i++) {
		const char *p = sanctions_forms[i].phrase;
		uint32_t n = (uint32_t)strlen(p);
		const char *sp = strchr(p, ' '), *last = strrchr(p, ' ');
		unsigned words = 1;

		for (const char *q = p; (q = strchr(q, ' ')) != NULL; q++)
			words++;
		if (words > FORM_WORDS_MAX)
			return -EINVAL;          /* a table entry this file got wrong */
		w[0] = (struct kpg_str){ p, n };
		f[0] = sanctions_forms[i].where;
		w[1] = (struct kpg_str){ p, sp ? (uint32_t)(sp - p) : n };
		f[1] = sanctions_forms[i].where & FORM_START ?
		       FORM_FIRST_WORD | (words - 1) << FORM_HEAD_SHIFT : 0;
		if (f[1] && w[1].len > s->head_word_max)
			s->head_word_max = w[1].len;
		w[2] = last ? (struct kpg_str){ last + 1, (uint32_t)(p + n - last - 1) }
			    : w[0];
		f[2] = sanctions_forms[i].where & FORM_END ?
		       FORM_LAST_WORD | (words - 1) << FORM_TAIL_SHIFT : 0;
		if (f[2] && w[2].len > s->tail_word_max)
			s->tail_word_max = w[2].len;
		for (unsigned k = 0; k < 3; k++) {
			uint8_t *where;

			s->form_keys[s->n_forms] = w[k];
			old = sset_add(&s->forms, s->n_forms);
			if (old < 0) {
				s->form_where[s->n_forms] = 0;
				old = s->n_forms++;
			}
			where = &s->form_where[old];
			*where = form_merge(*where, f[k]);
		}
	}
	return 0;
}

struct sanctions_build {
	const struct kpg_plugin_env *env;
	struct sanctions_state *s;
	uint16_t list;                   /* the list being read */
	enum kpg_decision dflt;          /* its decision */
	uint32_t ecap;
	size_t blob_len, blob_cap;
};

static const char *sanctions_add(struct sanctions_build *b, enum sanctions_kind kind,
				 enum kpg_decision d, const char *key, uint32_t n)
{
	struct sanctions_state *s = b->s;

	if (s->n_entries == b->ecap) {
		uint32_t cap = b->ecap ? b->ecap * 2 : 64;
		struct sanctions_entry *e = realloc(s->entries, cap * sizeof(*e));

		if (e == NULL)
			return "out of memory";
		s->entries = e;
		b->ecap = cap;
	}
	if (b->blob_len + n > b->blob_cap) {
		size_t cap = b->blob_cap ? b->blob_cap * 2 : 4096;
		char *p;

		while (cap < b->blob_len + n)
			cap *= 2;
		if ((p = realloc(s->blob, cap)) == NULL)
			return "out of memory";
		s->blob = p;
		b->blob_cap = cap;
	}
	memcpy(s->blob + b->blob_len, key, n);
	if (kind == KIND_ID)
		s->id_roles |= s->lists[b->list].roles;
	else
		s->name_roles |= s->lists[b->list].roles;
	s->entries[s->n_entries++] = (struct sanctions_entry){
		.off = (uint32_t)b->blob_len, .len = n, .next = SANCTIONS_NONE,
		.list = b->list, .kind = (uint8_t)kind, .decision = (uint8_t)d,
	};
	b->blob_len += n;
	return NULL;
}

static bool sanctions_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Skips word w and the blanks after it when *p starts with it, then a blank. */
static bool sanctions_word(const char **p, const char *w)
{
	size_t n = strlen(w);

	if (strncmp(*p, w, n) != 0 || !sanctions_blank((*p)[n]))
		return false;
	*p += n;
	while (sanctions_blank(**p))
		(*p)++;
	return true;
}

/* One entry, from a file line or an inline string; NULL or why not. */
static const char *sanctions_entry(struct sanctions_build *b, const char *text)
{
	char line[PCONF_TEXT_MAX + 32], norm[SANCTIONS_NORM_MAX];
	enum kpg_decision d = b->dflt;
	enum sanctions_kind kind;
	const char *p = line, *why;
	uint32_t n, lo, len;

	if (strlen(text) >= sizeof(line))
		return "entry longer than 255 bytes";
	strcpy(line, text);
	pconf_cut_comment(line);
	while (sanctions_blank(*p))
		p++;
	if (sanctions_word(&p, "reject"))
		d = KPG_REJECT;
	else if (sanctions_word(&p, "refer"))
		d = KPG_REFER;
	if (strncmp(p, "id:", 3) == 0) {
		kind = KIND_ID;
		p += 3;
	} else if (strncmp(p, "name:", 5) == 0) {
		kind = KIND_NAME;
		p += 5;
	} else {
		return "expected [reject|refer] id:<identifier> or name:<name>";
	}
	while (sanctions_blank(*p))
		p++;
	n = (uint32_t)strlen(p);
	while (n > 0 && sanctions_blank(p[n - 1]))
		n--;
	if ((why = pconf_text_invalid(p, n)) != NULL)
		return why;
	if (kind == KIND_ID)
		return sanctions_add(b, kind, d, p, n);
	if (sanctions_normalise(b->s, p, n, norm, sizeof(norm), &lo, &len) < 0 ||
	    len == 0)
		return "name has no letter or digit to match";
	return sanctions_add(b, kind, d, norm + lo, len);
}

static int sanctions_file_line(void *arg, const char *text, unsigned lineno,
			       char *err, size_t errlen)
{
	const char *why = sanctions_entry(arg, text);

	(void)lineno;
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

static int sanctions_roles_of(const struct kpg_plugin_env *env,
			      const config_setting_t *g, uint8_t *roles)
{
	const config_setting_t *list;
	const char *v;
	unsigned r;

	if (pconf_aggregate(env, g, "roles", &list) < 0)
		return -EINVAL;
	if (list == NULL) {
		*roles = (1u << ROLE__COUNT) - 1;
		return 0;
	}
	*roles = 0;
	for (int i = 0; i < config_setting_length(list); i++) {
		if (pconf_elem_string(env, list, (unsigned)i, &v) < 0)
			return -EINVAL;
		for (r = 0; r < ROLE__COUNT && strcmp(v, sanctions_roles[r]) != 0; r++)
			;
		if (r == ROLE__COUNT) {
			env->error(env, config_setting_get_elem(list, (unsigned)i),
				   "role \"%s\": must be exporter, importer or authority", v);
			return -EINVAL;
		}
		*roles |= (uint8_t)(1u << r);
	}
	if (*roles == 0) {
		env->error(env, list, "'roles' is empty: leave it out to check every party");
		return -EINVAL;
	}
	return 0;
}

static int sanctions_list(struct sanctions_build *b, const config_setting_t *g)
{
	static const char *const keys[] = { "name", "file", "entries", "decision",
					    "roles", NULL };
	const struct kpg_plugin_env *env = b->env;
	struct sanctions_state *s = b->s;
	struct sanctions_list *l = &s->lists[s->n_lists];
	const config_setting_t *entries;
	const char *name, *file, *v, *why;

	if (!config_setting_is_group(g)) {
		env->error(env, g, "a list must be a group: { name = ...; file = ...; }");
		return -EINVAL;
	}
	if (env->check_keys(env, g, keys) < 0 ||
	    pconf_string(env, g, "name", true, &name) < 0)
		return -EINVAL;
	if (name[0] == '\0' || strlen(name) >= sizeof(l->name) ||
	    pconf_text_invalid(name, strlen(name))) {
		env->error(env, config_setting_get_member(g, "name"),
			   "list name \"%.40s\": 1 to %u printable bytes", name,
			   SANCTIONS_LIST_NAME - 1);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->n_lists; i++)
		if (strcmp(s->lists[i].name, name) == 0) {
			env->error(env, config_setting_get_member(g, "name"),
				   "list \"%s\" named twice", name);
			return -EINVAL;
		}
	snprintf(l->name, sizeof(l->name), "%s", name);
	b->list = (uint16_t)s->n_lists++;
	if (sanctions_roles_of(env, g, &l->roles) < 0 ||
	    pconf_decision(env, g, "decision", KPG_REJECT, &b->dflt) < 0 ||
	    pconf_aggregate(env, g, "entries", &entries) < 0 ||
	    pconf_string(env, g, "file", false, &file) < 0)
		return -EINVAL;
	if (entries == NULL && file == NULL) {
		env->error(env, g, "list \"%s\" has neither 'file' nor 'entries'", name);
		return -EINVAL;
	}
	for (int i = 0; entries && i < config_setting_length(entries); i++) {
		if (pconf_elem_string(env, entries, (unsigned)i, &v) < 0)
			return -EINVAL;
		if ((why = sanctions_entry(b, v)) != NULL) {
			env->error(env, config_setting_get_elem(entries, (unsigned)i),
				   "entry \"%.48s\": %s", v, why);
			return -EINVAL;
		}
	}
	if (file == NULL)
		return 0;
	return env->read_lines(env, config_setting_get_member(g, "file"), file,
			       sanctions_file_line, b);
}

/* Keys into their final blob, then one set per kind; an entry whose key is
 * already there joins that entry's chain. */
static int sanctions_sets(struct sanctions_state *s)
{
	uint32_t n = s->n_entries;

	s->keys = calloc(n ? n : 1, sizeof(*s->keys));
	if (s->keys == NULL || sset_init(&s->ids, s->keys, n) < 0 ||
	    sset_init(&s->names, s->keys, n) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct sanctions_entry *e = &s->entries[i];
		int64_t head;

		s->keys[i] = (struct kpg_str){ s->blob + e->off, e->len };
		head = sset_add(e->kind == KIND_ID ? &s->ids : &s->names, i);
		if (head >= 0) {
			e->next = s->entries[head].next;
			s->entries[head].next = i;
		}
	}
	return 0;
}

static void sanctions_release(void *instance, void *state)
{
	struct sanctions_state *s = state;

	if (s == NULL)
		return;
	free(s->forms.slots);
	free(s->ids.slots);
	free(s->names.slots);
	free(s->keys);
	free(s->blob);
	free(s->entries);
	free(s->lists);
	free(s);
}

static int sanctions_configure(void *instance, const struct kpg_plugin_env *env,
			       const config_setting_t *sec, void **state)
{
	static const char *const keys[] = { "lists", NULL };
	struct sanctions_build b = { .env = env };
	const config_setting_t *lists;
	int n, rc = -EINVAL;

	if (env->check_keys(env, sec, keys) < 0 ||
	    pconf_aggregate(env, sec, "lists", &lists) < 0)
		return -EINVAL;
	if (lists == NULL || (n = config_setting_length(lists)) == 0) {
		env->error(env, lists, "'lists' is required: at least one list");
		return -EINVAL;
	}
	b.s = calloc(1, sizeof(*b.s));
	if (b.s == NULL || (b.s->lists = calloc((size_t)n, sizeof(*b.s->lists))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = sanctions_forms_build(b.s)) < 0)
		goto fail;
	for (int i = 0; i < n; i++)
		if ((rc = sanctions_list(&b, config_setting_get_elem(lists, (unsigned)i))) < 0)
			goto fail;
	if ((rc = sanctions_sets(b.s)) < 0)
		goto fail;
	*state = b.s;
	return 0;
fail:
	sanctions_release(instance, b.s);
	return rc;
}

/* ---- evaluate (workers) ------------------------------------------------- */

/* The most severe entry for key among lists that check role. */
static const struct sanctions_entry *sanctions_match(const struct sanctions_state *s,
						     const struct sset *set,
						     const char *p, uint32_t n,
						     unsigned role)
{
	const struct sanctions_entry *best = NULL;
	int64_t i = sset_find(set, p, n);

	while (i >= 0) {
		const struct sanctions_entry *e = &s->entries[i];

		if ((s->lists[e->list].roles & (1u << role)) &&
		    (best == NULL || e->decision > best->decision ||
		     (e->decision == best->decision && e->list < best->list)))
			best = e;
		i = e->next == SANCTIONS_NONE ? -1 : (int64_t)e->next;
	}
	return best;
}

static void sanctions_evaluate(void *instance, const void *state,
			       const struct kpg_scan_view *scan,
			       struct kpg_plugin_verdict *out)
{
	const struct sanctions_state *s = state;
	const struct kpg_cert *c = scan->cert;
	const struct kpg_str *ids[ROLE__COUNT] = {
		&c->exporter.identifier, &c->importer.identifier, NULL
	};
	const struct kpg_str *names[ROLE__COUNT] = {
		&c->exporter.name, &c->importer.name, &c->issuing_authority
	};
	const struct sanctions_entry *best = NULL, *e;
	unsigned best_role = 0;
	char buf[SANCTIONS_NORM_MAX];

	for (unsigned r = 0; r < ROLE__COUNT; r++) {
		const char *p;
		uint32_t n, lo;

		if (ids[r] && (s->id_roles & (1u << r))) {
			p = ids[r]->p;
			n = ids[r]->len;
			while (n > 0 && sanctions_blank(*p)) {
				p++;
				n--;
			}
			while (n > 0 && sanctions_blank(p[n - 1]))
				n--;
			e = n ? sanctions_match(s, &s->ids, p, n, r) : NULL;
			if (e && (best == NULL || e->decision > best->decision)) {
				best = e;
				best_role = r;
			}
		}
		if (best && best->decision == KPG_REJECT)
			break;
		if ((s->name_roles & (1u << r)) &&
		    sanctions_normalise(s, names[r]->p, names[r]->len, buf, sizeof(buf),
					&lo, &n) == 0 && n > 0) {
			e = sanctions_match(s, &s->names, buf + lo, n, r);
			if (e && (best == NULL || e->decision > best->decision)) {
				best = e;
				best_role = r;
			}
		}
		if (best && best->decision == KPG_REJECT)
			break;
	}
	if (best == NULL) {
		static const char words[] = "no party on a sanctions list";

		out->decision = KPG_ACCEPT;
		out->reason = SANCTIONS_CLEAR;
		memcpy(out->detail, words, sizeof(words));   /* no snprintf per request */
		return;
	}
	out->decision = (enum kpg_decision)best->decision;
	out->reason = best->kind == KIND_ID ? SANCTIONS_IDENTIFIER : SANCTIONS_NAME;
	snprintf(out->detail, sizeof(out->detail), "%s %s on list %s",
		 sanctions_roles[best_role], best->kind == KIND_ID ? "identifier" : "name",
		 s->lists[best->list].name);
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "sanctions",
	.description = "exporter, importer and authority against sanctions lists, "
		       "by identifier and normalised name",
	.configure = sanctions_configure,
	.release = sanctions_release,
	.evaluate = sanctions_evaluate,
};
