/* The same functions as gated.c with no instrumentation at all: with
 * BBX_DISABLE, gated.c must compile to the same code as this. */
int kept(int n) { return n + 1; }
int removed(int n) { return n + 2; }
