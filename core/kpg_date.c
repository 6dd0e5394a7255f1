/* kpg_date.c — YYYYMMDD dates and Unix seconds, by arithmetic alone.
 * No libc time zone code: gmtime/timegm may read TZ files or take locks,
 * and a certificate's dates are plain proleptic Gregorian UTC days. */
#include "kpg_date.h"

#define KPG_DAY_SECONDS 86400
/* days from 0000-03-01 to 1970-01-01 */
#define KPG_DAYS_TO_EPOCH 719468
#define KPG_YEAR_MIN 1900u
#define KPG_YEAR_MAX 9999u

static bool kpg_leap(uint32_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static uint32_t kpg_month_days(uint32_t y, uint32_t m)
{
	static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31 };

	return m == 2 && kpg_leap(y) ? 29 : days[m - 1];
}

bool kpg_date_valid(uint32_t ymd)
{
	uint32_t y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;

	if (y < KPG_YEAR_MIN || y > KPG_YEAR_MAX || m < 1 || m > 12 || d < 1)
		return false;
	return d <= kpg_month_days(y, m);
}

/* Days from 0000-03-01 to y-03-01: counting years from March puts each
 * leap day at the end of its year, so this holds the only irregularity. */
static int64_t kpg_march1(int64_t y)
{
	return 365 * y + y / 4 - y / 100 + y / 400;
}

/* Days from 0000-03-01; months from March have lengths 31,30,31,30,31 that
 * repeat, which (153 * month + 2) / 5 sums exactly. */
static int64_t kpg_days_from_march0(uint32_t y, uint32_t m, uint32_t d)
{
	uint32_t mp = m >= 3 ? m - 3 : m + 9;

	if (m < 3)
		y--;
	return kpg_march1(y) + (153 * mp + 2) / 5 + d - 1;
}

int64_t kpg_date_to_unix(uint32_t ymd)
{
	if (!kpg_date_valid(ymd))
		return INT64_MIN;
	int64_t days = kpg_days_from_march0(ymd / 10000, ymd / 100 % 100,
					    ymd % 100);
	return (days - KPG_DAYS_TO_EPOCH) * KPG_DAY_SECONDS;
}

uint32_t kpg_date_from_unix(int64_t t)
{
	int64_t lo = kpg_days_from_march0(KPG_YEAR_MIN, 1, 1);
	int64_t hi = kpg_days_from_march0(KPG_YEAR_MAX, 12, 31);
	int64_t days = t / KPG_DAY_SECONDS;

	if (t % KPG_DAY_SECONDS < 0)
		days--;                 /* floor, not truncation, before 1970 */
	int64_t z = days + KPG_DAYS_TO_EPOCH;
	if (z < lo || z > hi)
		return 0;

	/* estimate the March-based year, then correct it by at most one */
	int64_t y = z * 400 / 146097;
	while (kpg_march1(y + 1) <= z)
		y++;
	while (kpg_march1(y) > z)
		y--;
	uint32_t doy = (uint32_t)(z - kpg_march1(y));
	uint32_t mp = (5 * doy + 2) / 153;
	uint32_t d = doy - (153 * mp + 2) / 5 + 1;
	uint32_t m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	return (uint32_t)y * 10000 + m * 100 + d;
}
