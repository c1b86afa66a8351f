/* soap_datetime.h: the strict lexical check behind certline's xsd:dateTime serializer. */
#ifndef CERTLINE_SOAP_DATETIME_H
#define CERTLINE_SOAP_DATETIME_H

/* 1 if s is an xsd:dateTime that names a real instant: YYYY-MM-DDThh:mm:ss[.f][Z|(+|-)hh:mm],
 * year 0001-9999, a day that exists in its month (leap years counted), hour 00-23 (or 24:00:00),
 * minute and second 00-59, zone within +-14:00; surrounding whitespace allowed. 0 otherwise. */
int cl_xsd_datetime_valid(const char *s);

#endif
