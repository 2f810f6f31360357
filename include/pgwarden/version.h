/* pgwarden version, shared by the core and (later) the plugin ABI. */
#ifndef PGWARDEN_VERSION_H
#define PGWARDEN_VERSION_H

#define PGWARDEN_VERSION_MAJOR 0
#define PGWARDEN_VERSION_MINOR 1
#define PGWARDEN_VERSION_PATCH 0
#define PGWARDEN_VERSION_STRING "0.1.0"

#endif
