// The public header compiles as C++ and links from C++.
#include <mutual.h>

int main()
{
	mutual_store *store = nullptr;
	mutual_store_free(store);
	return mutual_version()[0] ? 0 : 1;
}
