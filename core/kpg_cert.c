#include "kpg_cert.h"
