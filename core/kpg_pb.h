/* kpg_pb.h — pre-scan of protobuf wire bytes against a message descriptor.
 * It allocates nothing and classifies every bad shape under its own reason
 * before protobuf-c sees the bytes. In both modes it refuses unknown fields,
 * a singular field twice, strings that are not UTF-8 or hold a NUL, unknown
 * enum values, bools other than 0/1 and varints too wide for their field.
 * Canonical mode also demands the one encoding a signer produces: fields in
 * ascending order, repeated fields contiguous, varints minimal, packed only
 * where declared. One signed byte string never reads two ways. */
#ifndef KPG_PB_H
#define KPG_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* Why bytes were refused; stable numbers, counted per reason. */
enum kpg_wire_reason {
	KPG_WIRE_OK = 0,
	KPG_WIRE_TRUNCATED,          /* length runs past the end */
	KPG_WIRE_BAD_VARINT,         /* truncated, > 10 bytes, or not minimal (canonical) */
	KPG_WIRE_BAD_WIRE_TYPE,      /* wire type not that of the field, or 3/4/6/7 */
	KPG_WIRE_UNKNOWN_FIELD,
	KPG_WIRE_DUPLICATE_FIELD,    /* singular field seen twice */
	KPG_WIRE_OUT_OF_ORDER,       /* canonical only */
	KPG_WIRE_MISSING_FIELD,      /* a required field absent */
	KPG_WIRE_OVERSIZED_FIELD,    /* string/bytes longer than allowed */
	KPG_WIRE_TOO_MANY_FIELDS,
	KPG_WIRE_TOO_DEEP,
	KPG_WIRE_BAD_UTF8,           /* invalid UTF-8 or a NUL in a string */
	KPG_WIRE_BAD_VALUE,          /* enum value unknown, bool not 0/1 */
	KPG_WIRE__COUNT
};

struct kpg_pb_limits {
	uint32_t max_len;            /* longest string or bytes field */
	uint32_t max_fields;         /* fields in total, nested included */
	uint32_t max_depth;          /* nesting of messages; 0 = flat */
	bool canonical;
};

/* Returns KPG_WIRE_OK or the reason the bytes are refused. */
enum kpg_wire_reason kpg_pb_scan(const ProtobufCMessageDescriptor *desc,
				 const uint8_t *p, size_t len,
				 const struct kpg_pb_limits *lim);

const char *kpg_wire_reason_name(enum kpg_wire_reason r);

/* One field as it sits on the wire, for walking bytes that already passed
 * kpg_pb_scan() (the request view) without a second copy of the decoder. */
struct kpg_pb_field {
	uint32_t id;
	uint32_t wire_type;          /* PROTOBUF_C_WIRE_TYPE_* */
	uint64_t value;              /* varint, 32-bit and 64-bit wire types */
	const uint8_t *p;            /* length-prefixed payload */
	uint32_t len;
	const uint8_t *tag;          /* first byte of the field */
	bool minimal;                /* tag, varint and length minimally encoded */
};

/* Reads the field at *pos (< end) and moves *pos past it. Returns
 * KPG_WIRE_OK, BAD_VARINT, TRUNCATED or BAD_WIRE_TYPE (groups, 6, 7). */
enum kpg_wire_reason kpg_pb_next(const uint8_t **pos, const uint8_t *end,
				 struct kpg_pb_field *f);

/* Strict UTF-8 (RFC 3629) without NUL, as the scan demands of strings. */
bool kpg_pb_utf8_ok(const uint8_t *p, uint32_t len);

#endif
