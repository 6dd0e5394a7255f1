/* kpg_date.h — UTC calendar dates as YYYYMMDD integers, and Unix seconds. */
#ifndef KPG_DATE_H
#define KPG_DATE_H

#include <stdbool.h>
#include <stdint.h>

bool kpg_date_valid(uint32_t yyyymmdd);          /* a real Gregorian date, 1900..9999 */
uint32_t kpg_date_from_unix(int64_t t);           /* the UTC date holding t */
int64_t kpg_date_to_unix(uint32_t yyyymmdd);      /* 00:00:00 UTC of that date */

/* Out of range: kpg_date_from_unix() returns 0 for an instant outside years
 * 1900..9999, kpg_date_to_unix() returns INT64_MIN for an invalid date. */

#endif
