#pragma once
#include "hdf5_shim.h"
#include "codecs.h"
