#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/desc.h"
static void t_default(void **state)
{
	char err[256] = "";
	struct desc *d = desc_parse_string(desc_default_text, "<default>", err, sizeof(err));
	if (!d) fail_msg("%s", err);
	desc_free(d);
}
int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(t_default) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
