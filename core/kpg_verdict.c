#include "kpg_verdict.h"
