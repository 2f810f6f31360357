/*
 * Worker threads for blocking work: plugins' (host->worker_submit) and the
 * core's login checks (login_worker_submit: PAM, PBKDF2, NSS; auth_check.c).
 *
 * The loop thread queues a job; a worker runs job->work(arg); the finished
 * job goes onto a done list and a byte on a pipe wakes the loop, which runs
 * job->done(arg) there.  So plugins block on disks and networks without
 * the loop ever waiting, and get their answer back on the loop thread,
 * where every host function may be called.
 *
 * Plugins' jobs and login checks have pools of their own: a webhook or key
 * fetch hanging for its timeout does not hold up logins, and a flood of
 * password checks does not hold up plugins.  Each pool starts its threads
 * with its first job: a pgwarden without plugins, or with plugins that
 * never submit work, runs no extra thread.
 *
 * The same finished list carries host->call_on_loop() requests from
 * plugins' own threads (a job with only `done`).
 */
#include "pgwarden.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define WORKER_THREADS 2	/* per pool */
#define WORKER_QUEUE_MAX 10000	/* jobs waiting for a thread, per pool */

struct job {
	struct job *next;
	struct pgw_plugin *plugin;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

struct job_list {
	struct job *head;
	struct job *tail;
	int len;
};

struct worker_pool {
	const char *thread_name;	/* ps -L, top -H */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_list todo;
	pthread_t threads[WORKER_THREADS];
	int nthreads;
	bool stopping;
};

#define POOL_INIT(name) { .thread_name = name, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER }
static struct worker_pool plugin_pool = POOL_INIT("plugin-worker"), login_pool = POOL_INIT("login-worker");

/* The way back to the loop, shared by both pools and call_on_loop. */
static struct {
	pthread_mutex_t lock;
	struct job_list finished;
	int pipe_fd[2];			/* workers -> loop: "finished has jobs" */
	struct event ev_finished;
} back = { .lock = PTHREAD_MUTEX_INITIALIZER, .pipe_fd = { -1, -1 } };

/* Set once exiting begins; read by jobs on the workers (host->exiting). */
static atomic_bool exiting;

static void push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->len++;
}

static struct job *take_all(struct job_list *l)
{
	struct job *head = l->head;

	l->head = l->tail = NULL;
	l->len = 0;
	return head;
}

static struct job *pop(struct job_list *l)
{
	struct job *j = l->head;

	if (!j)
		return NULL;
	l->head = j->next;
	if (!l->head)
		l->tail = NULL;
	l->len--;
	return j;
}

/* Any thread: hand a finished job (or a call_on_loop) to the loop. */
static void finish(struct job *j)
{
	bool was_empty;

	pthread_mutex_lock(&back.lock);
	was_empty = back.finished.head == NULL;
	push(&back.finished, j);
	/* One wake-up byte per batch: the loop drains the whole list. */
	if (was_empty) {
		static const char byte = 1;
		ssize_t n = write(back.pipe_fd[1], &byte, 1);
		(void)n;	/* a full pipe already says "look" */
	}
	pthread_mutex_unlock(&back.lock);
}

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct job *j = pop(&pool->todo);
		if (!j) {
			if (pool->stopping)
				break;
			pthread_cond_wait(&pool->wake, &pool->lock);
			continue;
		}
		pthread_mutex_unlock(&pool->lock);
		j->work(j->arg);
		finish(j);
		pthread_mutex_lock(&pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* On the loop thread: run the done callbacks of finished jobs. */
static void finished_cb(evutil_socket_t fd, short what UNUSED, void *arg UNUSED)
{
	char drain[64];
	struct job *j;

	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&back.lock);
	j = take_all(&back.finished);
	pthread_mutex_unlock(&back.lock);
	while (j) {
		struct job *next = j->next;
		if (j->done)
			j->done(j->arg);
		free(j);
		j = next;
	}
}

/* The loop's end of the pipe; before any plugin runs, so that plugins'
 * own threads may call_on_loop from init on. */
bool plugin_workers_init(void)
{
	if (back.pipe_fd[0] >= 0)
		return true;
	if (pipe2(back.pipe_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("workers: pipe: %s", strerror(errno));
		return false;
	}
	event_assign(&back.ev_finished, pooler.base, back.pipe_fd[0], EV_READ | EV_PERSIST, finished_cb, NULL);
	event_add(&back.ev_finished, NULL);
	return true;
}

static bool start_threads(struct worker_pool *pool)
{
	if (!plugin_workers_init())
		return false;
	for (int i = 0; i < WORKER_THREADS; i++) {
		int err = pthread_create(&pool->threads[i], NULL, worker_main, pool);
		if (err) {
			log_error("workers: pthread_create: %s", strerror(err));
			break;
		}
		pthread_setname_np(pool->threads[i], pool->thread_name);
		pool->nthreads++;
	}
	return pool->nthreads > 0;
}

/* Any thread. */
int plugin_call_on_loop(struct pgw_plugin *p, void (*fn)(void *), void *arg)
{
	struct job *j;

	if (!fn || back.pipe_fd[1] < 0)
		return -1;
	j = calloc(1, sizeof(*j));	/* not xcalloc: its failure path logs, loop-only */
	if (!j)
		return -1;
	j->plugin = p;
	j->done = fn;
	j->arg = arg;
	finish(j);
	return 0;
}

/* Loop thread. */
static int submit(struct worker_pool *pool, struct pgw_plugin *p, void (*work)(void *), void (*done)(void *),
		  void *arg)
{
	struct job *j;

	if (!work || pool->stopping)
		return -1;
	if (!pool->nthreads && !start_threads(pool))
		return -1;
	pthread_mutex_lock(&pool->lock);
	if (pool->todo.len >= WORKER_QUEUE_MAX) {
		pthread_mutex_unlock(&pool->lock);
		if (p)
			p->errors++;
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->plugin = p;
	j->work = work;
	j->done = done;
	j->arg = arg;
	push(&pool->todo, j);
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

int plugin_worker_submit(struct pgw_plugin *p, void (*work)(void *), void (*done)(void *), void *arg)
{
	return submit(&plugin_pool, p, work, done, arg);
}

int login_worker_submit(void (*work)(void *), void (*done)(void *), void *arg)
{
	return submit(&login_pool, NULL, work, done, arg);
}

int plugin_workers_exiting(void)
{
	return atomic_load_explicit(&exiting, memory_order_relaxed);
}

static void stop_pool(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
}

/*
 * Let the workers finish what is queued, then run the done callbacks here
 * (before plugins unload): a plugin's last writes are not lost on exit.
 * Jobs that could block for long (a network fetch) see host->exiting() and
 * give up instead of holding the exit up; queued login checks are dropped
 * (auth_check.c).
 */
void plugin_workers_shutdown(void)
{
	atomic_store(&exiting, true);
	if (back.pipe_fd[0] < 0)
		return;
	stop_pool(&login_pool);
	stop_pool(&plugin_pool);
	finished_cb(back.pipe_fd[0], EV_READ, NULL);
	event_del(&back.ev_finished);
	close(back.pipe_fd[0]);
	close(back.pipe_fd[1]);
	back.pipe_fd[0] = back.pipe_fd[1] = -1;
}
