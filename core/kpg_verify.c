#include "kpg_verify.h"
