<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis styleCategories="AllStyleCategories" maxScale="0" version="3.22.16-Białowieża" hasScaleBasedVisibilityFlag="0" minScale="1e+08">
  <flags>
    <Identifiable>1</Identifiable>
    <Removable>1</Removable>
    <Searchable>1</Searchable>
    <Private>0</Private>
  </flags>
  <temporal mode="0" enabled="0" fetchMode="0">
    <fixedRange>
      <start></start>
      <end></end>
    </fixedRange>
  </temporal>
  <customproperties>
    <Option type="Map">
      <Option value="Value" type="QString" name="identify/format"/>
    </Option>
  </customproperties>
  <pipe-data-defined-properties>
    <Option type="Map">
      <Option value="" type="QString" name="name"/>
      <Option name="properties"/>
      <Option value="collection" type="QString" name="type"/>
    </Option>
  </pipe-data-defined-properties>
  <pipe>
    <provider>
      <resampling zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2" enabled="false"/>
    </provider>
    <rasterrenderer type="paletted" alphaBand="-1" band="1" opacity="1" nodataColor="">
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
        <paletteEntry value="1" color="#e4e4e4" label="Both clear" alpha="255"/>
        <paletteEntry value="2" color="#a8a8a8" label="Both cloud" alpha="255"/>
        <paletteEntry value="3" color="#5c5c5c" label="Both cloud shadow" alpha="255"/>
        <paletteEntry value="4" color="#e41a1c" label="Cloud missed by SCL" alpha="255"/>
        <paletteEntry value="5" color="#8c0a28" label="Shadow missed by SCL" alpha="255"/>
        <paletteEntry value="6" color="#2171b5" label="Cloud only in SCL" alpha="255"/>
        <paletteEntry value="7" color="#fd8d3c" label="Shadow only in SCL" alpha="255"/>
        <paletteEntry value="8" color="#fae18c" label="Thin cloud against cloud" alpha="255"/>
        <paletteEntry value="9" color="#965f28" label="Cloud against shadow" alpha="255"/>
        <paletteEntry value="10" color="#6a268c" label="SCL ambiguous, mask cloud" alpha="255"/>
        <paletteEntry value="11" color="#9e6ebe" label="SCL ambiguous, mask shadow" alpha="255"/>
        <paletteEntry value="12" color="#d4bee8" label="SCL ambiguous, mask clear" alpha="255"/>
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast gamma="1" brightness="0" contrast="0"/>
    <huesaturation colorizeOn="0" saturation="0" colorizeRed="255" colorizeGreen="128" grayscaleMode="0" colorizeBlue="128" colorizeStrength="100" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>

