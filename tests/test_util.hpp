// Kept for the test files that include it: the shared test support is tests/support/.
#pragma once

#include "support/capture.hpp"
