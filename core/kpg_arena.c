#include "kpg_arena.h"
