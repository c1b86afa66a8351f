// XML Schema built-in types shared by every certline interface (imported by each interface file).
typedef char *xsd__string;
// Custom (strict) serializer in common/soap_datetime.c: gSOAP's own accepts impossible values.
extern typedef time_t xsd__dateTime;
enum xsd__boolean { false_, true_ };
