/*
 * test_invariants.c - the asserts that guard the store's invariants fire
 * when an invariant is broken (db.c NOTES 2 and 4, store.c NOTES 1).
 *
 * Each case breaks one on purpose in a child process and checks that the
 * child dies of SIGABRT with the assert's words on stderr: a seq skipped
 * and a write outside a transaction (test hooks in log.c, so these two
 * cases exist in a test build only), and a second thread entering a
 * handle while the first is inside it. The control case
 * does the same append unbroken and must succeed, so each abort is the
 * break's. Debug builds only: with NDEBUG the asserts are compiled out
 * and the test is skipped.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static mutual_store *store;

static void append_one(void)
{
	mutual_event_id id;
	CHECK_OK(mutual_append(&id, store, "test.note", "{\"n\":1}"));
}

static void *second_thread(void *unused)
{
	(void)unused;
	append_one(); /* inside the handle while the first thread is too */
	return NULL;
}

static int row_then_second_thread(int columns, const char *const *names, const char *const *values, void *payload)
{
	pthread_t t;
	(void)columns, (void)names, (void)values, (void)payload;
	CHECK(pthread_create(&t, NULL, second_thread, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	return 0;
}

/* Run `body` in a child with MUTUAL_TEST_BREAK_INVARIANT=`breaks` (NULL:
 * unset); its exit status and what it wrote to stderr. */
static int in_child(const char *breaks, void (*body)(void), char *err, size_t err_size)
{
	int fds[2], status;
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	fflush(NULL);
	CHECK((pid = fork()) >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		store = check_store_create(breaks ? breaks : "control", "laptop");
		if (breaks)
			setenv("MUTUAL_TEST_BREAK_INVARIANT", breaks, 1);
		body();
		mutual_store_free(store);
		_exit(0);
	}
	close(fds[1]);
	while (len + 1 < err_size && (got = read(fds[0], err + len, err_size - 1 - len)) > 0)
		len += (size_t)got;
	err[len] = '\0';
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

static void expect_abort(const char *breaks, void (*body)(void), const char *words)
{
	char err[4096];
	int status = in_child(breaks, body, err, sizeof(err));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || !strstr(err, words)) {
		fprintf(stderr, "breaking %s: expected an abort naming \"%s\"; status %d, stderr:\n%s\n", breaks, words,
			status, err);
		exit(1);
	}
	printf("breaking %s aborts: %s", breaks, strstr(err, "Assertion") ? strstr(err, "Assertion") : err);
}

static void query_with_second_thread(void)
{
	CHECK_OK(mutual_query(store, "SELECT 1", NULL, 0, row_then_second_thread, NULL));
}

static void test_control(void)
{
	char err[4096];
	int status = in_child(NULL, append_one, err, sizeof(err));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "the unbroken append failed: status %d, stderr:\n%s\n", status, err);
		exit(1);
	}
}

#ifdef MUTUAL_TEST_HOOKS
static void test_seq(void)
{
	expect_abort("seq", append_one, "extends_its_log");
}

static void test_tx(void)
{
	expect_abort("tx", append_one, "in_tx");
}
#endif

static void test_thread(void)
{
	expect_abort("thread", query_with_second_thread, "two threads inside one mutual_store");
}

int main(int argc, char **argv)
{
	static const test_case cases[] = {
		{ "control", test_control },
#ifdef MUTUAL_TEST_HOOKS
		{ "seq", test_seq },
		{ "tx", test_tx },
#endif
		{ "thread", test_thread },
	};
	int rc;
#ifdef NDEBUG
	(void)argc, (void)argv, (void)cases;
	printf("asserts are compiled out (NDEBUG): nothing to check\n");
	return 77;
#endif
	tmp_dir();
	rc = run_cases(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	tmp_cleanup();
	return rc;
}
