#include <cstdio>
int main() { std::puts("tourniquet"); return 0; }
