#include "kpg_testkit.h"
