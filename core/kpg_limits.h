/* kpg_limits.h — sizes fixed by the wire protocol (docs/protocol.md).
 * A request fits one UDP datagram of at most KPG_DATAGRAM_MAX payload bytes,
 * so no IP fragmentation happens even at the IPv6 minimum MTU. */
#ifndef KPG_LIMITS_H
#define KPG_LIMITS_H

#define KPG_UDP_PORT_DEFAULT 7102
#define KPG_DATAGRAM_MAX     1200u   /* UDP payload, header included */
#define KPG_HDR_LEN          4u      /* "KP", version, message type */
#define KPG_HDR_MAGIC0       0x4bu   /* 'K' */
#define KPG_HDR_MAGIC1       0x50u   /* 'P' */
#define KPG_WIRE_VERSION     1u
#define KPG_MSG_REQUEST      1u
#define KPG_MSG_RESPONSE     2u

#define KPG_KEY_ID_LEN       16u
#define KPG_SIG_MAX          512u    /* RSA-4096 */
#define KPG_HMAC_LEN         32u     /* station HMAC-SHA-256 tag (field 15) */
#define KPG_CHECK_NAME_MAX   24u
#define KPG_VERDICTS_MAX     16u
#define KPG_STR_MAX          256u    /* any string field of a request */
#define KPG_FIELDS_MAX       256u    /* fields in one message, any depth */
#define KPG_DEPTH_MAX        4u      /* message nesting */

#endif
