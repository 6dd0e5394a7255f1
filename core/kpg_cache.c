#include "kpg_cache.h"
