/*
 * apps_private.h - what the apps' own files share and no front end sees:
 * each app's projection registration and the error setter behind
 * apps_error().
 */
#ifndef MUTUAL_APPS_PRIVATE_H
#define MUTUAL_APPS_PRIVATE_H

#include "apps.h"

/* Set apps_error() (printf-style) and return `code`. */
int apps__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Pass up a libmutual failure: copies mutual_error_last() into apps_error(). */
int apps__lib(int code);
/* 16 random hex digits (a new post or shift id). */
void apps__new_id(char out[17]);
/* The name to show for a device id (64 hex): its display form, or the
 * id's first 8 hex when the store cannot say. The result lives until the
 * next call on this thread or on the store. */
const char *apps__device_name(mutual_store *store, const char *hex);

int pantry__register(mutual_store *store);
int rota__register(mutual_store *store);

#endif
