// All four certline interfaces in one gSOAP definition, so one set of stubs serves every program.
// Each interface keeps its own file, namespace and WSDL.
#import "ca.h"
#import "comm_terminal.h"
#import "device.h"
#import "line.h"
