#include "kpg_pb.h"
