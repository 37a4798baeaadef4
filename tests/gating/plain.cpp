// The same functions as gated.cpp with no instrumentation at all: with
// BBX_DISABLE, gated.cpp must compile to the same code as this.
int kept(int n) { return n + 1; }
int removed(int n) { return n + 2; }
