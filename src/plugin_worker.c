/*
 * Worker threads for plugins' blocking work (host->worker_submit).
 *
 * The loop thread queues a job; a worker runs job->work(arg); the finished
 * job goes onto a done list and a byte on a pipe wakes the loop, which runs
 * job->done(arg) there.  So plugins block on disks and networks without
 * the loop ever waiting, and get their answer back on the loop thread,
 * where every host function may be called.
 *
 * The threads start with the first job: a pgwarden without plugins, or
 * with plugins that never submit work, runs no extra thread.
 *
 * The same finished list carries host->call_on_loop() requests from
 * plugins' own threads (a job with only `done`).  The core's own blocking
 * work (PAM, pam_auth.c) uses the same threads, with no plugin.
 */
#include "pgwarden.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define WORKER_THREADS 2
#define WORKER_QUEUE_MAX 10000	/* jobs waiting for a thread */

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

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_list todo;		/* for the workers */
	struct job_list finished;	/* for the loop */
	pthread_t threads[WORKER_THREADS];
	int nthreads;
	bool stopping;
	int pipe_fd[2];			/* workers -> loop: "finished has jobs" */
	struct event ev_finished;
} workers = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .pipe_fd = { -1, -1 } };

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

/* Under the lock: hand a finished job to the loop. */
static void finish_locked(struct job *j)
{
	bool was_empty = workers.finished.head == NULL;

	push(&workers.finished, j);
	/* One wake-up byte per batch: the loop drains the whole list. */
	if (was_empty) {
		static const char byte = 1;
		ssize_t n = write(workers.pipe_fd[1], &byte, 1);
		(void)n;	/* a full pipe already says "look" */
	}
}

static void *worker_main(void *unused UNUSED)
{
	pthread_mutex_lock(&workers.lock);
	for (;;) {
		struct job *j = pop(&workers.todo);
		if (!j) {
			if (workers.stopping)
				break;
			pthread_cond_wait(&workers.wake, &workers.lock);
			continue;
		}
		pthread_mutex_unlock(&workers.lock);
		j->work(j->arg);
		pthread_mutex_lock(&workers.lock);
		finish_locked(j);
	}
	pthread_mutex_unlock(&workers.lock);
	return NULL;
}

/* On the loop thread: run the done callbacks of finished jobs. */
static void finished_cb(evutil_socket_t fd, short what UNUSED, void *arg UNUSED)
{
	char drain[64];
	struct job *j;

	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&workers.lock);
	j = take_all(&workers.finished);
	pthread_mutex_unlock(&workers.lock);
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
	if (workers.pipe_fd[0] >= 0)
		return true;
	if (pipe2(workers.pipe_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("plugin workers: pipe: %s", strerror(errno));
		return false;
	}
	event_assign(&workers.ev_finished, pooler.base, workers.pipe_fd[0], EV_READ | EV_PERSIST, finished_cb, NULL);
	event_add(&workers.ev_finished, NULL);
	return true;
}

static bool start_threads(void)
{
	if (!plugin_workers_init())
		return false;
	for (int i = 0; i < WORKER_THREADS; i++) {
		int err = pthread_create(&workers.threads[i], NULL, worker_main, NULL);
		if (err) {
			log_error("plugin workers: pthread_create: %s", strerror(err));
			break;
		}
		workers.nthreads++;
	}
	return workers.nthreads > 0;
}

/* Any thread. */
int plugin_call_on_loop(struct pgw_plugin *p, void (*fn)(void *), void *arg)
{
	struct job *j;

	if (!fn || workers.pipe_fd[1] < 0)
		return -1;
	j = calloc(1, sizeof(*j));	/* not xcalloc: its failure path logs, loop-only */
	if (!j)
		return -1;
	j->plugin = p;
	j->done = fn;
	j->arg = arg;
	pthread_mutex_lock(&workers.lock);
	finish_locked(j);
	pthread_mutex_unlock(&workers.lock);
	return 0;
}

int plugin_worker_submit(struct pgw_plugin *p, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct job *j;

	if (!work || workers.stopping)
		return -1;
	if (!workers.nthreads && !start_threads())
		return -1;
	pthread_mutex_lock(&workers.lock);
	if (workers.todo.len >= WORKER_QUEUE_MAX) {
		pthread_mutex_unlock(&workers.lock);
		if (p)
			p->errors++;
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->plugin = p;
	j->work = work;
	j->done = done;
	j->arg = arg;
	push(&workers.todo, j);
	pthread_cond_signal(&workers.wake);
	pthread_mutex_unlock(&workers.lock);
	return 0;
}

int plugin_workers_exiting(void)
{
	return atomic_load_explicit(&exiting, memory_order_relaxed);
}

/*
 * Let the workers finish what is queued, then run the done callbacks here
 * (before plugins unload): a plugin's last writes are not lost on exit.
 * Jobs that could block for long (a network fetch) see host->exiting() and
 * give up instead of holding the exit up.
 */
void plugin_workers_shutdown(void)
{
	atomic_store(&exiting, true);
	if (workers.pipe_fd[0] < 0)
		return;
	pthread_mutex_lock(&workers.lock);
	workers.stopping = true;
	pthread_cond_broadcast(&workers.wake);
	pthread_mutex_unlock(&workers.lock);
	for (int i = 0; i < workers.nthreads; i++)
		pthread_join(workers.threads[i], NULL);
	workers.nthreads = 0;
	finished_cb(workers.pipe_fd[0], EV_READ, NULL);
	event_del(&workers.ev_finished);
	close(workers.pipe_fd[0]);
	close(workers.pipe_fd[1]);
	workers.pipe_fd[0] = workers.pipe_fd[1] = -1;
}
