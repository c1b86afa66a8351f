/* write_result_service.h: the line interface served by the factory terminal (S10 in, S13 out).
 * The handler itself is __line__WriteResult, found by gSOAP's dispatcher; the server's app
 * pointer (cl_server_settings.app) must be the struct ft_station. */
#ifndef CERTLINE_WRITE_RESULT_SERVICE_H
#define CERTLINE_WRITE_RESULT_SERVICE_H

#include "line_station.h"

#endif
