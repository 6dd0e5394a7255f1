/* kpg_pb.c — allocation-free pre-scan of protobuf wire bytes.
 * The scan walks the bytes once against a protobuf-c descriptor, keeping per
 * message only a bitmap of the fields seen, so it is safe on hostile input
 * and costs no allocation. protobuf-c unpacks only what passed here. */
#include <string.h>

#include "kpg_pb.h"

/* Fields per message the seen-bitmap can track; kpgate's widest has 14. */
#define KPG_PB_MSG_FIELDS_MAX 256u
/* Whatever the caller asks, recursion stays bounded (the stack is the cost). */
#define KPG_PB_DEPTH_HARD 32u

static const char *const kpg_wire_reason_names[KPG_WIRE__COUNT] = {
	[KPG_WIRE_OK] = "ok",
	[KPG_WIRE_TRUNCATED] = "truncated",
	[KPG_WIRE_BAD_VARINT] = "bad_varint",
	[KPG_WIRE_BAD_WIRE_TYPE] = "bad_wire_type",
	[KPG_WIRE_UNKNOWN_FIELD] = "unknown_field",
	[KPG_WIRE_DUPLICATE_FIELD] = "duplicate_field",
	[KPG_WIRE_OUT_OF_ORDER] = "out_of_order",
	[KPG_WIRE_MISSING_FIELD] = "missing_field",
	[KPG_WIRE_OVERSIZED_FIELD] = "oversized_field",
	[KPG_WIRE_TOO_MANY_FIELDS] = "too_many_fields",
	[KPG_WIRE_TOO_DEEP] = "too_deep",
	[KPG_WIRE_BAD_UTF8] = "bad_utf8",
	[KPG_WIRE_BAD_VALUE] = "bad_value",
};

const char *kpg_wire_reason_name(enum kpg_wire_reason r)
{
	if ((unsigned)r >= KPG_WIRE__COUNT)
		return "unknown_reason";
	return kpg_wire_reason_names[r];
}

/* A varint of at most 10 bytes whose value fits 64 bits. *minimal is false
 * when a shorter encoding of the same value exists (trailing 0x00 byte). */
static inline __attribute__((always_inline)) enum kpg_wire_reason
kpg_pb_varint(const uint8_t **pos, const uint8_t *end, uint64_t *v, bool *minimal)
{
	const uint8_t *p = *pos;
	uint64_t x = 0;

	/* Most varints of a request (tags, small numbers) are one byte. */
	if (p < end && *p < 0x80) {
		*v = *p;
		*minimal = true;
		*pos = p + 1;
		return KPG_WIRE_OK;
	}
	for (unsigned i = 0; i < 10; i++) {
		if ((size_t)(end - p) <= i)
			return KPG_WIRE_BAD_VARINT;
		uint8_t b = p[i];
		/* the tenth byte holds bit 63 only */
		if (i == 9 && b > 1)
			return KPG_WIRE_BAD_VARINT;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			*minimal = i == 0 || b != 0;
			*pos = p + i + 1;
			return KPG_WIRE_OK;
		}
	}
	return KPG_WIRE_BAD_VARINT;
}

enum kpg_wire_reason kpg_pb_next(const uint8_t **pos, const uint8_t *end,
				 struct kpg_pb_field *f)
{
	const uint8_t *p = *pos;
	uint64_t tag, v;
	bool min_tag, min_val = true;
	enum kpg_wire_reason r;

	f->tag = p;
	r = kpg_pb_varint(&p, end, &tag, &min_tag);
	if (r)
		return r;
	/* field numbers are 29 bits: a longer tag is no tag */
	if (tag > UINT32_MAX)
		return KPG_WIRE_BAD_VARINT;
	f->id = (uint32_t)(tag >> 3);
	f->wire_type = (uint32_t)(tag & 7);
	f->value = 0;
	f->p = NULL;
	f->len = 0;

	switch (f->wire_type) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		r = kpg_pb_varint(&p, end, &f->value, &min_val);
		if (r)
			return r;
		break;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		if (end - p < 8)
			return KPG_WIRE_TRUNCATED;
		for (unsigned i = 0; i < 8; i++)
			f->value |= (uint64_t)p[i] << (8 * i);
		p += 8;
		break;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		if (end - p < 4)
			return KPG_WIRE_TRUNCATED;
		for (unsigned i = 0; i < 4; i++)
			f->value |= (uint64_t)p[i] << (8 * i);
		p += 4;
		break;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		r = kpg_pb_varint(&p, end, &v, &min_val);
		if (r)
			return r;
		if (v > (uint64_t)(end - p))
			return KPG_WIRE_TRUNCATED;
		f->p = p;
		f->len = (uint32_t)v;
		p += v;
		break;
	default:
		/* 3/4 are groups (gone from the language), 6/7 do not exist */
		return KPG_WIRE_BAD_WIRE_TYPE;
	}
	f->minimal = min_tag && min_val;
	*pos = p;
	return KPG_WIRE_OK;
}

/* Strict UTF-8 (RFC 3629): no overlong form, no surrogate, nothing above
 * U+10FFFF, and no NUL, which would cut the C string protobuf-c makes. */
bool kpg_pb_utf8_ok(const uint8_t *p, uint32_t len)
{
	const uint8_t *end = p + len;

	while (p < end) {
		uint8_t c;
		unsigned n;
		uint8_t lo = 0x80, hi = 0xbf;

		/* Eight ASCII bytes, none NUL, at a time: most of a certificate's
		 * text (a word with a high bit or a NUL goes byte by byte). */
		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if ((w & 0x8080808080808080ull) != 0 ||
			    ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) != 0)
				break;
			p += 8;
		}
		if (p == end)
			break;
		c = *p++;
		if (c == 0)
			return false;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;      /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f;      /* U+D800..DFFF surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;      /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f;      /* above U+10FFFF */
		} else {
			return false;           /* continuation, C0/C1, F5.. */
		}
		if ((size_t)(end - p) < n)
			return false;
		if (p[0] < lo || p[0] > hi)
			return false;
		for (unsigned i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

static int kpg_pb_wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return PROTOBUF_C_WIRE_TYPE_32BIT;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return PROTOBUF_C_WIRE_TYPE_64BIT;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	default:
		return PROTOBUF_C_WIRE_TYPE_VARINT;
	}
}

/* protobuf-c silently truncates varints to the field's width, so a value
 * that does not fit would read as another number: refuse it instead. */
static enum kpg_wire_reason kpg_pb_varint_value_ok(
	const ProtobufCFieldDescriptor *fd, uint64_t v)
{
	int64_t s = (int64_t)v;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
		if (s < INT32_MIN || s > INT32_MAX)
			return KPG_WIRE_BAD_VALUE;
		return KPG_WIRE_OK;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_SINT32:
		return v > UINT32_MAX ? KPG_WIRE_BAD_VALUE : KPG_WIRE_OK;
	case PROTOBUF_C_TYPE_BOOL:
		return v > 1 ? KPG_WIRE_BAD_VALUE : KPG_WIRE_OK;
	case PROTOBUF_C_TYPE_ENUM:
		if (s < INT32_MIN || s > INT32_MAX)
			return KPG_WIRE_BAD_VALUE;
		if (fd->descriptor == NULL ||
		    protobuf_c_enum_descriptor_get_value(fd->descriptor,
							 (int)s) == NULL)
			return KPG_WIRE_BAD_VALUE;
		return KPG_WIRE_OK;
	default:
		return KPG_WIRE_OK;             /* 64-bit types take any value */
	}
}

struct kpg_pb_scan_state {
	const struct kpg_pb_limits *lim;
	uint32_t max_depth;
	uint32_t fields;
};

static enum kpg_wire_reason kpg_pb_count_field(struct kpg_pb_scan_state *s)
{
	if (++s->fields > s->lim->max_fields)
		return KPG_WIRE_TOO_MANY_FIELDS;
	return KPG_WIRE_OK;
}

/* Elements of a packed repeated scalar; each counts as a field. */
static enum kpg_wire_reason kpg_pb_scan_packed(struct kpg_pb_scan_state *s,
					       const ProtobufCFieldDescriptor *fd,
					       const uint8_t *p, uint32_t len)
{
	const uint8_t *end = p + len;
	int wt = kpg_pb_wire_type_of(fd->type);
	enum kpg_wire_reason r;

	if (wt != PROTOBUF_C_WIRE_TYPE_VARINT) {
		uint32_t w = wt == PROTOBUF_C_WIRE_TYPE_32BIT ? 4 : 8;

		if (len % w)
			return KPG_WIRE_TRUNCATED;
		for (uint32_t i = 0; i < len / w; i++)
			if ((r = kpg_pb_count_field(s)))
				return r;
		return KPG_WIRE_OK;
	}
	while (p < end) {
		uint64_t v;
		bool minimal;

		if ((r = kpg_pb_varint(&p, end, &v, &minimal)))
			return r;
		if (s->lim->canonical && !minimal)
			return KPG_WIRE_BAD_VARINT;
		if ((r = kpg_pb_varint_value_ok(fd, v)))
			return r;
		if ((r = kpg_pb_count_field(s)))
			return r;
	}
	return KPG_WIRE_OK;
}

static enum kpg_wire_reason kpg_pb_scan_msg(struct kpg_pb_scan_state *s,
					    const ProtobufCMessageDescriptor *d,
					    const uint8_t *p, const uint8_t *end,
					    uint32_t depth);

static enum kpg_wire_reason kpg_pb_scan_value(struct kpg_pb_scan_state *s,
					      const ProtobufCFieldDescriptor *fd,
					      const struct kpg_pb_field *f,
					      uint32_t depth)
{
	bool canonical = s->lim->canonical;
	bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
	bool packed = fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED;
	int wt = kpg_pb_wire_type_of(fd->type);

	if ((int)f->wire_type != wt) {
		/* a repeated scalar may come packed; canonical only if declared */
		if (repeated && wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
		    f->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
		    (packed || !canonical))
			return kpg_pb_scan_packed(s, fd, f->p, f->len);
		return KPG_WIRE_BAD_WIRE_TYPE;
	}
	/* a signer packs what the schema declares packed, always */
	if (canonical && repeated && packed)
		return KPG_WIRE_BAD_WIRE_TYPE;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (f->len > s->lim->max_len)
			return KPG_WIRE_OVERSIZED_FIELD;
		if (!kpg_pb_utf8_ok(f->p, f->len))
			return KPG_WIRE_BAD_UTF8;
		return KPG_WIRE_OK;
	case PROTOBUF_C_TYPE_BYTES:
		if (f->len > s->lim->max_len)
			return KPG_WIRE_OVERSIZED_FIELD;
		return KPG_WIRE_OK;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (depth + 1 > s->max_depth)
			return KPG_WIRE_TOO_DEEP;
		if (fd->descriptor == NULL)
			return KPG_WIRE_UNKNOWN_FIELD;
		return kpg_pb_scan_msg(s, fd->descriptor, f->p, f->p + f->len,
				       depth + 1);
	default:
		if (wt == PROTOBUF_C_WIRE_TYPE_VARINT)
			return kpg_pb_varint_value_ok(fd, f->value);
		return KPG_WIRE_OK;
	}
}

static inline bool kpg_pb_seen(const uint64_t *seen, unsigned i)
{
	return seen[i / 64] & (UINT64_C(1) << (i % 64));
}

/* Members of one oneof share quantifier_offset; two of them is a duplicate
 * (protobuf-c would keep the last one silently). */
static bool kpg_pb_oneof_taken(const ProtobufCMessageDescriptor *d,
			       const uint64_t *seen,
			       const ProtobufCFieldDescriptor *fd)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *o = &d->fields[i];

		if (o != fd && (o->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    o->quantifier_offset == fd->quantifier_offset &&
		    kpg_pb_seen(seen, i))
			return true;
	}
	return false;
}

static enum kpg_wire_reason kpg_pb_scan_msg(struct kpg_pb_scan_state *s,
					    const ProtobufCMessageDescriptor *d,
					    const uint8_t *p, const uint8_t *end,
					    uint32_t depth)
{
	uint64_t seen[KPG_PB_MSG_FIELDS_MAX / 64] = { 0 };
	uint32_t last_id = 0;
	enum kpg_wire_reason r;

	if (d->n_fields > KPG_PB_MSG_FIELDS_MAX)
		return KPG_WIRE_TOO_MANY_FIELDS;

	while (p < end) {
		struct kpg_pb_field f;
		const ProtobufCFieldDescriptor *fd;
		unsigned i;

		if ((r = kpg_pb_next(&p, end, &f)))
			return r;
		if (s->lim->canonical && !f.minimal)
			return KPG_WIRE_BAD_VARINT;
		if ((r = kpg_pb_count_field(s)))
			return r;
		fd = f.id ? protobuf_c_message_descriptor_get_field(d, f.id)
			  : NULL;
		if (fd == NULL)
			return KPG_WIRE_UNKNOWN_FIELD;
		i = (unsigned)(fd - d->fields);
		if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
			if (kpg_pb_seen(seen, i))
				return KPG_WIRE_DUPLICATE_FIELD;
			if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    kpg_pb_oneof_taken(d, seen, fd))
				return KPG_WIRE_DUPLICATE_FIELD;
		}
		/* ascending ids also make each repeated field contiguous */
		if (s->lim->canonical && f.id < last_id)
			return KPG_WIRE_OUT_OF_ORDER;
		seen[i / 64] |= UINT64_C(1) << (i % 64);
		last_id = f.id;
		if ((r = kpg_pb_scan_value(s, fd, &f, depth)))
			return r;
	}

	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED &&
		    !kpg_pb_seen(seen, i))
			return KPG_WIRE_MISSING_FIELD;
	return KPG_WIRE_OK;
}

enum kpg_wire_reason kpg_pb_scan(const ProtobufCMessageDescriptor *desc,
				 const uint8_t *p, size_t len,
				 const struct kpg_pb_limits *lim)
{
	struct kpg_pb_scan_state s = {
		.lim = lim,
		.max_depth = lim->max_depth < KPG_PB_DEPTH_HARD
				     ? lim->max_depth : KPG_PB_DEPTH_HARD,
	};

	static const uint8_t empty[1];

	if (len > UINT32_MAX)
		return KPG_WIRE_OVERSIZED_FIELD;
	/* An empty bytes field reaches us as NULL: NULL + 0 is undefined. */
	if (p == NULL)
		p = empty;
	return kpg_pb_scan_msg(&s, desc, p, p + len, 0);
}
