#include "kpg_trust.h"
