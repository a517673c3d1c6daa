/*
 * test_log.c — DISCO_LOG parsing and the logging macro's promise not to
 * evaluate its arguments when the level is off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

static void t_reset(void)
{
	memset(log_levels, LOG_WARN, sizeof(log_levels));
}

static void t_levels(void **state)
{
	(void)state;
	t_reset();
	assert_int_equal(log_init("info"), 0);
	for (int i = 0; i < SUB_COUNT; i++)
		assert_int_equal(log_levels[i], LOG_INFO);
	assert_int_equal(log_init("error,coh=debug,vmm=trace"), 0);
	assert_int_equal(log_levels[SUB_NODE], LOG_ERROR);
	assert_int_equal(log_levels[SUB_COH], LOG_DEBUG);
	assert_int_equal(log_levels[SUB_VMM], LOG_TRACE);
	assert_string_equal(log_subsys_name(SUB_DISK), "disk");
}

static void t_bad(void **state)
{
	(void)state;
	t_reset();
	assert_int_equal(log_init("loud"), -EINVAL);
	assert_int_equal(log_init("coh=loud"), -EINVAL);
	assert_int_equal(log_init("gpu=info"), -EINVAL);
	/* a bad item does not spoil the good ones */
	assert_int_equal(log_init("net=debug,bogus"), -EINVAL);
	assert_int_equal(log_levels[SUB_NET], LOG_DEBUG);
	assert_int_equal(log_levels[SUB_COH], LOG_WARN);
	assert_int_equal(log_init(""), 0);
}

static int evaluated;
static int side_effect(void)
{
	return ++evaluated;
}

static void t_lazy(void **state)
{
	(void)state;
	t_reset();
	evaluated = 0;
	LOG(SUB_COH, LOG_DEBUG, "value %d", side_effect());
	assert_int_equal(evaluated, 0);
	log_levels[SUB_COH] = LOG_DEBUG;
	LOG(SUB_COH, LOG_DEBUG, "value %d", side_effect());
	assert_int_equal(evaluated, 1);
	/* rate limiting: at most 5 a second from one call site */
	evaluated = 0;
	for (int i = 0; i < 100; i++)
		LOG_RATELIMITED(SUB_COH, LOG_DEBUG, "burst %d", side_effect());
	assert_true(evaluated >= 5 && evaluated <= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_levels),
		cmocka_unit_test(t_bad),
		cmocka_unit_test(t_lazy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
