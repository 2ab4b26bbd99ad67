package org.lomo4j.model;

/** A model configuration that cannot be used; the message names the file and the field. */
public final class ConfigException extends IllegalArgumentException {
    public ConfigException(String message) {
        super(message);
    }
}
