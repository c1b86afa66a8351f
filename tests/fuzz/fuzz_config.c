/* fuzz_config.c: fuzz target for the programs' JSON configuration files (common/config.c:
 * cl_config_load_file over a file held in memory, with the table of each of the four programs:
 * ca-server, comm-terminal, factory-terminal, device-agent). */
#include <stdlib.h>

#include "ca_config.h"
#include "config.h"
#include "ct_config.h"
#include "da_config.h"
#include "ft_config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const struct cl_cfg_table *table;
        size_t size;
    } programs[] = {
        {&ca_config_table, sizeof(struct ca_config)},
        {&ct_config_table, sizeof(struct ct_config)},
        {&ft_config_table, sizeof(struct ft_config)},
        {&da_config_table, sizeof(struct da_config)},
    };
    static struct fuzz_file file;
    char err[512];

    fuzz_init();
    if (fuzz_file_set(&file, data, size, 0600) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
        void *config = calloc(1, programs[i].size);
        if (config == NULL)
            return 0;
        (void)cl_config_load_file(file.path, programs[i].table, config, err, sizeof(err));
        free(config);
    }
    return 0;
}
