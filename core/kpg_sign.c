#include "kpg_sign.h"
