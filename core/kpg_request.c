#include "kpg_request.h"
