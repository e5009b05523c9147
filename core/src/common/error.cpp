// The error types are header-only (nepcg/error.hpp); this unit anchors their vtables.
#include "nepcg/error.hpp"
