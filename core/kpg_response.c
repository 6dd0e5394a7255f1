#include "kpg_response.h"
