/*
 * Intrusive doubly linked lists, in the style of the Linux kernel and
 * PgBouncer's usual/list.h: an object embeds a struct list_node and can sit
 * on one list per embedded node without any allocation.
 */
#ifndef PGWARDEN_LIST_H
#define PGWARDEN_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct list_node {
	struct list_node *next, *prev;
};

/* A list head is a node pointing to itself when empty. */
#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void list_init(struct list_node *head)
{
	head->next = head->prev = head;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

static inline void list_insert_after(struct list_node *pos, struct list_node *node)
{
	node->prev = pos;
	node->next = pos->next;
	pos->next->prev = node;
	pos->next = node;
}

static inline void list_append(struct list_node *head, struct list_node *node)
{
	list_insert_after(head->prev, node);
}

static inline void list_prepend(struct list_node *head, struct list_node *node)
{
	list_insert_after(head, node);
}

/* Unlink and re-initialise, so a second list_del is harmless. */
static inline void list_del(struct list_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_init(node);
}

static inline struct list_node *list_first(const struct list_node *head)
{
	return list_empty(head) ? NULL : head->next;
}

static inline struct list_node *list_pop(struct list_node *head)
{
	struct list_node *n = list_first(head);
	if (n)
		list_del(n);
	return n;
}

static inline int list_count(const struct list_node *head)
{
	int n = 0;
	for (const struct list_node *p = head->next; p != head; p = p->next)
		n++;
	return n;
}

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Safe against removal of pos inside the loop body. */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
