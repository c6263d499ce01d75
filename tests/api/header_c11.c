/* The public header alone compiles as strict C11 (-pedantic -Werror). */
#include <mutual.h>

int main(void)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	mutual_iter_options iter = MUTUAL_ITER_OPTIONS_INIT;
	(void)opts;
	(void)iter;
	return mutual_version()[0] ? 0 : 1;
}
