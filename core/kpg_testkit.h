/* kpg_testkit.h — fixtures for the unit tests. */
#ifndef KPG_TESTKIT_H
#define KPG_TESTKIT_H
#endif
