#include "kpg_date.h"
