<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <colorPalette>
        <paletteEntry value="1" color="#ff0000" alpha="255" label="Saturated or defective"/>
        <paletteEntry value="2" color="#2f2f2f" alpha="255" label="Dark area pixels"/>
        <paletteEntry value="3" color="#643200" alpha="255" label="Cloud shadows"/>
        <paletteEntry value="4" color="#00a000" alpha="255" label="Vegetation"/>
        <paletteEntry value="5" color="#ffe65a" alpha="255" label="Not vegetated"/>
        <paletteEntry value="6" color="#0000ff" alpha="255" label="Water"/>
        <paletteEntry value="7" color="#808080" alpha="255" label="Unclassified"/>
        <paletteEntry value="8" color="#c0c0c0" alpha="255" label="Cloud medium probability"/>
        <paletteEntry value="9" color="#ffffff" alpha="255" label="Cloud high probability"/>
        <paletteEntry value="10" color="#64c8ff" alpha="255" label="Thin cirrus"/>
        <paletteEntry value="11" color="#ff96ff" alpha="255" label="Snow or ice"/>
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast gamma="1" contrast="0" brightness="0"/>
    <huesaturation saturation="0" grayscaleMode="0" invertColors="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
