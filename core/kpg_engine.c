#include "kpg_engine.h"
