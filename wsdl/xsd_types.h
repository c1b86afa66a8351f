// XML Schema built-in types shared by every certline interface (imported by each interface file).
typedef char *xsd__string;
typedef time_t xsd__dateTime;
enum xsd__boolean { false_, true_ };
